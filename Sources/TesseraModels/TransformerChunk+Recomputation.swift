import TesseraNN
import TesseraParallel

/// The block loops of a chunk's passes under each ``Recomputation`` setting.
///
/// - `none`: each micro-batch's block states keep everything the backward pass reads.
/// - `selective`: the states share one attention core per chunk; the backward pass recomputes it from the
///   kept q, k, v just before each block's backward.
/// - `full`: the forward pass runs each block in a scratch state and keeps only the block's output (the
///   next block's input); the backward pass re-runs each block's forward from its kept input, then its
///   backward, alternating between two scratch states so one block's input gradient survives the next
///   block's recomputation.
///
/// Recomputation repeats the same arithmetic on the same inputs, so losses and gradients are unchanged.
extension TransformerChunk {
    /// Runs every block forward from `input` (continuing `caches` when decoding, which keeps everything);
    /// returns the last block's output (owned by `state`).
    func forwardBlocks(_ input: FloatBuffer, microBatch: MicroBatch, state: ChunkState, caches: [KeyValueCache]?) throws -> FloatBuffer {
        var x = input
        for (index, block) in blocks.enumerated() {
            let kept = state.blocks[index]
            kept.attention.shard = microBatch.shard
            recomputedBlocks[index % 2].attention.shard = microBatch.shard
            guard recomputation == .full, caches == nil else {
                x = try block.forward(x, batch: microBatch.batch, length: microBatch.length, state: kept, workspace: workspace,
                                      cache: caches?[index])
                state.routerStatistics[index] = kept.experts.router.statistics
                continue
            }
            let output = try block.forward(x, batch: microBatch.batch, length: microBatch.length,
                                           state: recomputedBlocks[index % 2], workspace: workspace)
            state.routerStatistics[index] = recomputedBlocks[index % 2].experts.router.statistics
            kept.output.reserve(output.count)
            context.backend.copy(output.pointer, into: kept.output.pointer, count: output.count)
            x = kept.output
        }
        return x
    }

    /// Runs every block backward from `dy`, recomputing what the forward pass did not keep; returns the
    /// gradient of the first block's input.
    func backwardBlocks(_ dy: UnsafeMutablePointer<Float>, microBatch: MicroBatch, state: ChunkState, mode: BackwardMode,
                        afterBlock: ((Int) throws -> Void)?) throws -> UnsafeMutablePointer<Float> {
        precondition(recomputation == .none || mode == .full, "recomputation needs the weight gradients in the backward pass")
        var dy = dy
        for index in blocks.indices.reversed() {
            let block = blocks[index]
            var blockState = state.blocks[index]
            switch recomputation {
            case .none:
                break
            case .selective:
                try block.attention.computeCore(batch: microBatch.batch, length: microBatch.length, state: blockState.attention)
            case .full:
                blockState = recomputedBlocks[index % 2]
                blockState.attention.shard = microBatch.shard
                let input = index == 0 ? state.input : state.blocks[index - 1].output
                try block.forward(input, batch: microBatch.batch, length: microBatch.length, state: blockState, workspace: workspace)
            }
            dy = try block.backward(dy, batch: microBatch.batch, length: microBatch.length, state: blockState,
                                    workspace: workspace, queue: state.weightGradients, mode: mode,
                                    routerLosses: state.routerLossGradient).pointer
            try afterBlock?(layers.lowerBound + index)
        }
        return dy
    }

    /// Bytes of the scratch recomputation rebuilds activations in (shared by every micro-batch).
    public var recomputationBytes: Int {
        switch recomputation {
        case .none: return 0
        case .selective: return (attentionCore.context.count + attentionCore.logSumExp.count) * 4
        case .full: return recomputedBlocks.reduce(0) { $0 + $1.savedBytes }
        }
    }
}
