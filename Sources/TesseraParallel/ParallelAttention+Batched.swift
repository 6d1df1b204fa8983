import TesseraTensor

extension ParallelAttention {
    /// Segments of at most this many rows (decoding steps, short chunks) attend over their key/value blocks in place,
    /// every such segment of a step in one call; longer ones (prompt chunks, where one copy serves many queries) copy
    /// their cached rows out once and attend with the tiled kernel. Which one a segment takes depends on its own
    /// length only, so batch invariance holds.
    public static let inPlaceAttentionRows = 16

    /// Forward of a batched decoding step on `x` `[rows, hidden]` (no sequence parallelism): one projection over
    /// every row, each row rotated by its own position, each sequence's new keys and values stored in its blocks of
    /// `pool` at `layer`, then each sequence's queries attend to all its cached tokens (``inPlaceAttentionRows``). Products are row-stable, so
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
        // The keys and values of the rows in `rows` (the rotation may share a step's rows among threads).
        let store = { (rows: Range<Int>) in
            for segment in batch.segments where segment.rows.overlaps(rows) {
                let first = max(rows.lowerBound, segment.rows.lowerBound), end = min(rows.upperBound, segment.rows.upperBound)
                let q = qkv + first * width
                pool.store(keys: q + heads * d, values: q + (heads + kvHeads) * d, rowStride: width, count: end - first,
                           at: segment.start + first - segment.rows.lowerBound, of: segment.table, layer: layer)
            }
        }
        if let rotary {
            batch.positions.withUnsafeBufferPointer {
                context.backend.rotate(qkv, rowStride: width, queryHeads: heads, keyHeads: kvHeads, positions: $0.baseAddress!, tokens: rows,
                                       with: rotary, thenStoringKeys: store)
            }
        } else {
            store(0..<rows)
        }
        state.context.reserve(rows * heads * d)
        state.logSumExp.reserve(rows * heads)
        let inPlace = batch.segments.filter { $0.rows.count <= Self.inPlaceAttentionRows }
        if !inPlace.isEmpty {
            context.backend.pagedAttention(q: qkv, qStride: width, keyValues: pool.keyValues(layer: layer),
                                           sequences: inPlace.map { PagedSequence(blocks: $0.table.blocks, rows: $0.rows, start: $0.start) },
                                           into: state.context.pointer, outStride: heads * d, logSumExp: state.logSumExp.pointer,
                                           shape: shape(batch: 1, length: 1))
        }
        for segment in batch.segments where segment.rows.count > Self.inPlaceAttentionRows {
            let first = segment.rows.lowerBound, length = segment.rows.count, total = segment.start + length
            let cached = pool.gather(segment.table, tokens: total, layer: layer)
            context.backend.attention(q: qkv + first * width, qStride: width, k: cached.keys, v: cached.values, kvStride: kvHeads * d,
                                      into: state.context.pointer + first * heads * d, outStride: heads * d,
                                      logSumExp: state.logSumExp.pointer + first * heads,
                                      shape: shape(batch: 1, length: length, keyLength: total))
        }
        return try output.forward(state.context.pointer, tokens: rows, workspace: workspace, rowStable: true)
    }
}
