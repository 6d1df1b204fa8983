import TesseraNN
import TesseraParallel

extension TransformerChunk {
    /// Forward of a batched decoding step (no sequence parallelism, no backward): every sequence's new rows
    /// `[batch.rows, hidden]` run through the blocks together, keys and values kept in `pool` (this chunk's blocks
    /// are the pool's layers `firstLayer...`). The last chunk then keeps only each sequence's last row and leaves
    /// its logits `[segments, local vocabulary]` in `state.logits`. Only the first two block states are used.
    /// - Parameter input: the previous chunk's output `[batch.rows, hidden]` (ignored by the first chunk).
    /// - Returns: the output `[batch.rows, hidden]` (owned by `state`), or `nil` for the last chunk.
    func forward(_ batch: DecodeBatch, input: UnsafePointer<Float>?, state: ChunkState, pool: KVBlockPool,
                 firstLayer: Int) throws -> FloatBuffer? {
        let rows = batch.rows
        try loadInput(batch.tokens, rows: rows, input: input, into: state) { Int(batch.positions[$0]) }
        var x = state.input
        // Nothing is kept for a backward pass, so the blocks take turns with two states (each block reads the
        // other's output): a step holds two blocks' activations, not every block's.
        for (index, block) in blocks.enumerated() {
            x = try block.forward(x, batch: batch, state: state.blocks[index % 2], workspace: workspace, pool: pool,
                                  layer: firstLayer + index)
        }
        guard let finalNorm, let head else { return x }
        // Only the row after which each sequence continues needs the head (the widest product of the model).
        let lastRows = batch.segments.count
        state.headInput.reserve(lastRows * hidden)
        for (i, segment) in batch.segments.enumerated() {
            context.backend.copy(x.pointer + (segment.rows.upperBound - 1) * hidden, into: state.headInput.pointer + i * hidden, count: hidden)
        }
        state.finalNormalized.reserve(lastRows * hidden)
        state.finalStatistics.reserve(2 * lastRows)
        finalNorm.forward(state.headInput.pointer, into: state.finalNormalized.pointer, statistics: state.finalStatistics.pointer,
                          rows: lastRows, backend: context.backend)
        state.logits.reserve(lastRows * head.outFeatures)
        head.forward(state.finalNormalized.pointer, tokens: lastRows, into: state.logits.pointer, rowStable: true)
        return nil
    }
}
