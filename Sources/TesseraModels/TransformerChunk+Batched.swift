import TesseraNN
import TesseraParallel

extension TransformerChunk {
    /// Forward of a batched decoding step (no sequence parallelism, no backward): every sequence's new rows
    /// `[batch.rows, hidden]` run through the blocks together, keys and values kept in `pool` (this chunk's blocks
    /// are the pool's layers `firstLayer...`). The last chunk then keeps only each sequence's last row and leaves
    /// its logits `[segments, local vocabulary]` in `state.logits`. Only the first two block states are used.
    /// - Parameter input: the previous chunk's output `[batch.rows, hidden]` (ignored by the first chunk).
    /// - Returns: the output `[batch.rows, hidden]` (owned by `state`; the last chunk's is before the final norm).
    func forward(_ batch: DecodeBatch, input: UnsafePointer<Float>?, state: ChunkState, pool: KVBlockPool,
                 firstLayer: Int) throws -> FloatBuffer {
        let rows = batch.rows
        try loadInput(batch.tokens, rows: rows, input: input, into: state) { Int(batch.positions[$0]) }
        var x = state.input
        // Nothing is kept for a backward pass, so the blocks take turns with two states (each block reads the
        // other's output): a step holds two blocks' activations, not every block's.
        for (index, block) in blocks.enumerated() {
            x = try block.forward(x, batch: batch, state: state.blocks[index % 2], workspace: workspace, pool: pool,
                                  layer: firstLayer + index)
        }
        // Only the row after which each sequence continues needs the head (the widest product of the model).
        if head != nil { headLogits(rows: batch.segments.map { $0.rows.upperBound - 1 }, of: x, state: state) }
        return x
    }

    /// The last chunk's final norm and head on `rows` of `x` `[_, hidden]`: logits `[rows.count, local vocabulary]`
    /// in `state.logits` (row-stable, so a row's logits do not depend on the other rows).
    func headLogits(rows: [Int], of x: FloatBuffer, state: ChunkState) {
        guard let finalNorm, let head else { preconditionFailure("only the last chunk has the head") }
        let count = rows.count
        state.headInput.reserve(count * hidden)
        for (i, row) in rows.enumerated() {
            context.backend.copy(x.pointer + row * hidden, into: state.headInput.pointer + i * hidden, count: hidden)
        }
        state.finalNormalized.reserve(count * hidden)
        state.finalStatistics.reserve(2 * count)
        finalNorm.forward(state.headInput.pointer, into: state.finalNormalized.pointer, statistics: state.finalStatistics.pointer,
                          rows: count, backend: context.backend)
        state.logits.reserve(count * head.outFeatures)
        head.forward(state.finalNormalized.pointer, tokens: count, into: state.logits.pointer, rowStable: true)
    }
}
