extension CPUBackend {
    /// When the rows are too few to split over the pool by rows (a decoding step's), the calling thread rotates the
    /// queries while a worker rotates the keys and runs `storeKeys`: the caller's serial work between two products
    /// shrinks to the query rotation, and the keys and values, the last columns of the fused product, are those the
    /// worker computed whenever the queries fill at least half the row (SmolLM2: 576 of 960), so it reads them from its
    /// own cache. Otherwise every head rotates split by rows, then
    /// `storeKeys` runs on the caller. Each head's rotation is the same arithmetic either way.
    public func rotate(_ rows: UnsafeMutablePointer<Float>, rowStride: Int, queryHeads: Int, keyHeads: Int, positions: UnsafePointer<Int32>,
                       tokens: Int, with rotary: RotaryEmbedding, thenStoringKeys storeKeys: () -> Void) {
        let heads = queryHeads + keyHeads
        guard pool.threadCount > 1, pool.parts(forElements: tokens * heads * rotary.headDim) == 1 else {
            rotate(rows, rowStride: rowStride, heads: heads, positions: positions, tokens: tokens, inverse: false, with: rotary)
            return storeKeys()
        }
        pool.run(parts: 2) { part in
            if part == 0 {
                rotary.apply(rows, rowStride: rowStride, heads: queryHeads, positions: positions, tokens: tokens)
            } else {
                rotary.apply(rows + queryHeads * rotary.headDim, rowStride: rowStride, heads: keyHeads, positions: positions, tokens: tokens)
                storeKeys()
            }
        }
    }
}
