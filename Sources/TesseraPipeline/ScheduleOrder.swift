/// The compute order of each schedule for one rank, without transfers (``PipelineSchedule`` places those).
///
/// Pure index arithmetic; every order is checked by ``PipelineScheduleChecker`` in the tests for all
/// p ≤ 8, m ≤ 32.
enum ScheduleOrder {
    /// GPipe: all forwards, then all backwards in micro-batch order (as PyTorch's `ScheduleGPipe`).
    static func gpipe(microBatches m: Int) -> [PipelineAction] {
        (0..<m).map { .forward(microBatch: $0, chunk: 0) } + (0..<m).map { .backward(microBatch: $0, chunk: 0) }
    }

    /// 1F1B (PipeDream-Flush, Narayanan et al. 2021): `min(p − r − 1, m)` warm-up forwards, then pairs of
    /// one forward and one backward, then the remaining backwards. Rank `r` holds at most `p − r`
    /// micro-batches' activations.
    static func oneForwardOneBackward(rank r: Int, stages p: Int, microBatches m: Int) -> [PipelineAction] {
        let warmUp = min(p - r - 1, m)
        var order: [PipelineAction] = (0..<warmUp).map { .forward(microBatch: $0, chunk: 0) }
        for step in 0..<(m - warmUp) {
            order.append(.forward(microBatch: warmUp + step, chunk: 0))
            order.append(.backward(microBatch: step, chunk: 0))
        }
        order += (m - warmUp..<m).map { .backward(microBatch: $0, chunk: 0) }
        return order
    }

    /// Interleaved 1F1B in Megatron-LM's ordering (Narayanan et al. 2021, §2.2): the `m · v` forward
    /// "virtual micro-batches" run in groups of `p` micro-batches per chunk, chunk 0 first; backwards run
    /// the chunks in reverse. Rank `r` warms up with `2(p − r − 1) + (v − 1)p` forwards, then alternates.
    /// Requires `m` to be a multiple of `p` (checked by ``PipelineScheduleConfig``).
    static func interleaved(rank r: Int, stages p: Int, microBatches m: Int, virtualStages v: Int) -> [PipelineAction] {
        let total = m * v
        // Virtual micro-batch k: group k / (p·v) of p micro-batches, chunk (k mod p·v) / p.
        func position(_ k: Int, forward: Bool) -> (microBatch: Int, chunk: Int) {
            let inGroup = k % (p * v)
            let chunk = inGroup / p
            return ((k / (p * v)) * p + inGroup % p, forward ? chunk : v - 1 - chunk)
        }
        func forward(_ k: Int) -> PipelineAction {
            let (microBatch, chunk) = position(k, forward: true)
            return .forward(microBatch: microBatch, chunk: chunk)
        }
        func backward(_ k: Int) -> PipelineAction {
            let (microBatch, chunk) = position(k, forward: false)
            return .backward(microBatch: microBatch, chunk: chunk)
        }
        let warmUp = min(2 * (p - r - 1) + (v - 1) * p, total)
        var order = (0..<warmUp).map(forward)
        for k in 0..<(total - warmUp) {
            order.append(forward(k + warmUp))
            order.append(backward(k))
        }
        order += (total - warmUp..<total).map(backward)
        return order
    }

    /// ZB-H1 (Qi et al. 2023, §3.1 and Fig. 3): the 1F1B order with the backward split into B and W, where
    /// rank `r`'s `x`-th slot runs F of micro-batch `x`, B of `x − (p − 1 − r)` and W of `x − (p − 1)`
    /// (each when in range). Rank `r` thus delays every W by `r` slots behind its B, filling the
    /// cool-down bubble, while holding at most `p` micro-batches, the same peak as 1F1B's first rank.
    static func zeroBubbleH1(rank r: Int, stages p: Int, microBatches m: Int) -> [PipelineAction] {
        var order: [PipelineAction] = []
        for slot in 0..<(m + p - 1) {
            let entries: [(PipelineComputeKind, Int)] = [
                (.forward, slot), (.backwardInput, slot - (p - 1 - r)), (.backwardWeight, slot - (p - 1)),
            ]
            for (kind, microBatch) in entries where (0..<m).contains(microBatch) {
                order.append(PipelineAction(kind, microBatch: microBatch, chunk: 0))
            }
        }
        return order
    }
}
