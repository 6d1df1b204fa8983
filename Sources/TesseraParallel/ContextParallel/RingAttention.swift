import TesseraCollectives
import TesseraNN

/// Ring attention over the context-parallel group (Liu et al. 2023): the key/value blocks travel around the ring
/// (rank `r` sends to `r + 1` and receives from `r − 1`), each step's transfer started with non-blocking
/// send/receive before the attention on the block at hand and awaited after it, so the two overlap. After `cp`
/// steps every rank has seen every block. The backward pass sends the blocks around the same way, each followed
/// by the key/value gradient accumulated so far (its transfer overlapped with the next block's first key tile);
/// after the last step one more hop brings every block's gradient home.
struct RingAttention {
    let blocks: ContextAttentionBlocks
    let group: any Communicator

    /// Point-to-point tags of the ring on the cp group's own communicator (inside MPI's guaranteed tag range, 0...32767).
    private static let keyValueTag = 32_000, gradientTag = 32_001

    private var geometry: ContextAttentionGeometry { blocks.geometry }
    private var scratch: ContextAttentionScratch { blocks.scratch }
    private var next: Int { (group.rank + 1) % group.size }
    private var previous: Int { (group.rank + group.size - 1) % group.size }

    /// The rank whose block this rank holds at ring step `step`.
    private func source(step: Int) -> Int { (group.rank - step % group.size + group.size) % group.size }

    /// Writes the attention output `[rows, outputWidth]` and its log-sum-exp from the rotated `qkv`.
    func forward(qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>) throws {
        let kvw = geometry.keyValueWidth
        var (current, incoming) = (scratch.keysValues[0], scratch.keysValues[1])
        current.reserve(geometry.rows * kvw)
        blocks.pack(qkv, rows: geometry.rows, into: current.pointer)
        for step in 0..<group.size {
            let requests = step < group.size - 1
                ? try exchange(current, into: incoming, rows: geometry.rows(ofRank: source(step: step + 1)), tag: Self.keyValueTag) : []
            blocks.forward(qkv: qkv, keysValues: current.pointer, source: source(step: step), out: out, logSumExp: logSumExp)
            for request in requests { try request.wait() }
            swap(&current, &incoming)
        }
    }

    /// Writes `dqkv` `[rows, width]` from the output gradient, the forward's output and log-sum-exp.
    ///
    /// Three packed blocks take turns: the key/value block at hand, the gradient accumulated for it, and a free one.
    /// Once a step's attention has used its key/value block (and sent it on), that block receives the next block's
    /// gradient while the next step's first key tile is computed; the free one (the gradient sent before) then receives
    /// the key/value block after it. So the gradient travels overlapped with compute, in three blocks rather than four.
    /// The first step has no gradient to wait for: its key/value transfer starts before its first kernel.
    func backward(dOut: UnsafePointer<Float>, qkv: UnsafePointer<Float>, out: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
                  dqkv: FloatBuffer) throws {
        var (current, gradient, free) = (scratch.keysValues[0], scratch.keysValues[1], scratch.keyValueGradients[0])
        current.reserve(geometry.rows * geometry.keyValueWidth)
        blocks.pack(qkv, rows: geometry.rows, into: current.pointer)
        gradient.reserve(geometry.rows * geometry.keyValueWidth)
        gradient.zero()
        dqkv.zero()
        var gradientTransfer: [any CollectiveRequest] = []
        for step in 0..<group.size {
            let following = geometry.rows(ofRank: source(step: step + 1))
            var blockTransfer: [any CollectiveRequest] = []
            let handOver = { [current, free] in
                for request in gradientTransfer { try request.wait() }
                if step < group.size - 1 {
                    blockTransfer = try exchange(current, into: free, rows: following, tag: Self.keyValueTag)
                }
            }
            if step == 0 { try handOver() }
            try blocks.backward(dOut: dOut, qkv: qkv, keysValues: current.pointer, source: source(step: step), out: out,
                                logSumExp: logSumExp, dqkv: dqkv.pointer, dKeysValues: gradient.pointer,
                                beforeAccumulating: step == 0 ? nil : handOver)
            for request in blockTransfer { try request.wait() }
            // The gradient follows its block; after the last step this brings this rank's own block's gradient home.
            gradientTransfer = try exchange(gradient, into: current, rows: following, tag: Self.gradientTag)
            (current, gradient, free) = (free, current, gradient)
        }
        for request in gradientTransfer { try request.wait() }
        blocks.unpack(gradient.pointer, rows: geometry.rows, into: dqkv.pointer)
    }

    /// Starts sending `outgoing` to the next rank and receiving `rows` packed rows from the previous one.
    private func exchange(_ outgoing: FloatBuffer, into incoming: FloatBuffer, rows: Int, tag: Int) throws -> [any CollectiveRequest] {
        incoming.reserve(rows * geometry.keyValueWidth)
        let receive = try group.startReceive(into: UnsafeMutableRawBufferPointer(incoming.mutableElements), from: previous, tag: tag)
        let send = try group.startSend(UnsafeRawBufferPointer(outgoing.elements), to: next, tag: tag)
        return [receive, send]
    }
}
