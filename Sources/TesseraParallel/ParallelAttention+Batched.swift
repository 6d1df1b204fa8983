import TesseraTensor

extension ParallelAttention {
    /// Forward of a batched decoding step on `x` `[rows, hidden]` (no sequence parallelism): one projection over
    /// every row, each row rotated by its own position, each sequence's new keys and values stored in its blocks of
    /// `pool` at `layer`, then each sequence's queries attend to all its cached tokens. Products are row-stable, so
    /// a sequence's numbers do not depend on the other rows. Returns `[rows, hidden]` in `workspace`.
    public func forward(_ x: UnsafeMutablePointer<Float>, batch: DecodeBatch, state: State, workspace: Workspace,
                        pool: KVBlockPool, layer: Int) throws -> UnsafeMutablePointer<Float> {
        precondition(!context.sequenceParallel, "batched decoding runs without sequence parallelism")
        let rows = batch.rows, d = headDim, width = (heads + 2 * kvHeads) * d
        let input = try projection.gatherInput(x, localRows: rows, scratch: workspace.gathered)
        state.qkv.reserve(rows * width)
        let qkv = state.qkv.pointer
        projection.forward(input, tokens: rows, into: qkv, rowStable: true)
        try queryKeyNorm?.forward(qkv, rowStride: width, tokens: rows, state: state.queryKeyNorm)
        if let rotary {
            batch.positions.withUnsafeBufferPointer {
                context.backend.rotate(qkv, rowStride: width, heads: heads + kvHeads, positions: $0.baseAddress!, tokens: rows,
                                       inverse: false, with: rotary)
            }
        }
        state.context.reserve(rows * heads * d)
        state.logSumExp.reserve(rows * heads)
        for segment in batch.segments {
            let first = segment.rows.lowerBound, length = segment.rows.count, total = segment.start + length
            let q = qkv + first * width
            pool.store(keys: q + heads * d, values: q + (heads + kvHeads) * d, rowStride: width, count: length,
                       at: segment.start, of: segment.table, layer: layer)
            let cached = pool.gather(segment.table, tokens: total, layer: layer)
            let shape = shape(batch: 1, length: length, keyLength: total)
            context.backend.attention(q: q, qStride: width, k: cached.keys, v: cached.values, kvStride: kvHeads * d,
                                      into: state.context.pointer + first * heads * d, outStride: heads * d,
                                      logSumExp: state.logSumExp.pointer + first * heads, shape: shape)
        }
        return try output.forward(state.context.pointer, tokens: rows, workspace: workspace, rowStable: true)
    }
}
