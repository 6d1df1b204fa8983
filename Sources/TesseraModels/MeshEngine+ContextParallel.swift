import TesseraParallel

/// Context parallelism in the engine: every rank of a cp group receives the same micro-batches (like the ranks of
/// a tp group) and keeps its zig-zag share of each sequence (``MicroBatch/sharded(_:faults:)``) through the whole
/// model. Each rank's loss is the sum over its tokens, scaled by the global target count, so the sum over the group
/// is the single-device loss; dense gradients are summed over dp × cp.
extension MeshEngine {
    /// This rank's share of `microBatch` (the micro-batch itself without context parallelism), checked against the
    /// model and the tp split.
    /// - Throws: ``ModelError`` for invalid ids, lengths or splits; ``ContextParallelError/sequenceTooShort(length:cp:)``.
    func localShare(of microBatch: MicroBatch) throws -> MicroBatch {
        let context = model.context
        try microBatch.validate(for: config, tp: context.tp.size, sequenceParallel: context.sequenceParallel && context.cp.size == 1)
        guard context.cp.size > 1 else { return microBatch }
        let local = microBatch.sharded(try ContextShard(length: microBatch.length, ranks: context.cp.size, rank: context.cp.rank),
                                       faults: context.contextFaults)
        try local.validate(for: config, tp: context.tp.size, sequenceParallel: context.sequenceParallel)
        return local
    }

    /// Tokens per sequence on this rank for sequences of `length` (`length` without context parallelism).
    /// - Throws: ``ContextParallelError/sequenceTooShort(length:cp:)``.
    func localLength(of length: Int) throws -> Int {
        let cp = model.context.cp
        return cp.size > 1 ? try ContextShard(length: length, ranks: cp.size, rank: cp.rank).localLength : length
    }

    /// Bytes Ulysses (a2a) attention keeps beyond what ``TransformerConfig/savedActivationBytes(batch:length:tp:rank:sequenceParallel:layers:targets:recompute:)``
    /// counts for this rank's share of sequences of `length` (0 for the other attentions and without cp): per block
    /// the head-sharded q/k/v and output of the whole sequences, `batch × length × (heads + 2·kvHeads + heads) / cp
    /// × headDim` floats, and a log-sum-exp over `heads / cp` heads of the whole sequences instead of every head of
    /// the local rows. Recomputation moves them as it moves the rest: `selective` keeps the shards per block and the
    /// log-sum-exp in its shared scratch, `full` keeps both only in its (at most two) scratch blocks.
    /// - Parameters:
    ///   - blocks: the chunk's blocks.
    ///   - scratch: the recomputation scratch's bytes instead of the micro-batch's.
    /// - Throws: ``ContextParallelError/sequenceTooShort(length:cp:)``.
    func ulyssesExtraBytes(batch: Int, length: Int, blocks: Int, scratch: Bool) throws -> Int {
        let context = model.context, cp = context.cp.size
        guard cp > 1, context.contextCommunication == .a2a else { return 0 }
        let heads = config.queryHeads(tp: context.tp.size, rank: context.tp.rank).count
        let kvHeads = config.keyValueHeads(tp: context.tp.size, rank: context.tp.rank).count, d = config.attention.headDim
        let shards = batch * length * (2 * heads + 2 * kvHeads) / cp * d
        let logSumExp = batch * heads / cp * length - batch * (try localLength(of: length)) * heads
        let floats = switch (parallel.memory.recompute, scratch) {
        case (.none, false): blocks * (shards + logSumExp)
        case (.selective, false): blocks * shards
        case (.selective, true): logSumExp
        case (.full, true): min(2, blocks) * (shards + logSumExp)
        case (.none, true), (.full, false): 0
        }
        return floats * MemoryLayout<Float>.stride
    }

    /// - Throws: ``ContextParallelError/unsupported(operation:reason:)`` with cp > 1.
    func refuseContextParallel(_ operation: String) throws {
        guard model.context.cp.size == 1 else {
            throw ContextParallelError.unsupported(operation: operation, reason: "it runs on whole sequences; use cp = 1 for generation")
        }
    }
}

extension ParallelConfig {
    /// Checks that Ulysses attention can split every tp rank's query and key/value heads over cp, in whole groups
    /// (nothing for the ring and all-gather attention, which split no heads).
    /// - Throws: ``ContextParallelError/headsDoNotSplit(what:count:cp:valid:)`` listing the cp that work, or
    ///   ``ContextParallelError/unsupported(operation:reason:)`` for an uneven tp whose ranks start inside a group.
    public func validateContextParallel(model: TransformerConfig) throws {
        guard cp > 1, contextCommunication == .a2a else { return }
        let group = model.attention.heads / model.attention.kvHeads
        for rank in 0..<tp {
            let queries = model.queryHeads(tp: tp, rank: rank), keyValues = model.keyValueHeads(tp: tp, rank: rank)
            let (heads, kvHeads) = (queries.count, keyValues.count)
            for (what, count) in [("query heads", heads), ("key/value heads", kvHeads)] where count % cp != 0 {
                throw ContextParallelError.headsDoNotSplit(what: what, count: count, cp: cp,
                                                           valid: (1...max(1, kvHeads)).filter { heads % $0 == 0 && kvHeads % $0 == 0 })
            }
            guard queries.lowerBound == keyValues.lowerBound * group, heads == kvHeads * group else {
                throw ContextParallelError.unsupported(
                    operation: "Ulysses (a2a) attention",
                    reason: "on tp=\(tp) rank \(rank)'s query heads \(queries) are not whole key/value groups of \(group); use a tp that divides the \(model.attention.kvHeads) key/value heads, or the ring or allgather attention")
            }
        }
    }
}
