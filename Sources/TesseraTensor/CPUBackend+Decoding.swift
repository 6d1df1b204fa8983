extension CPUBackend {
    /// When the rows are too few to split over the pool by their size (a decoding step's), each thread takes a
    /// share of the rows, rotates their queries and keys and stores their keys and values (`storeKeys` with its rows),
    /// so the threads finish together; a single row is shared by heads instead, the calling thread rotating the
    /// queries while a worker rotates the keys and stores them. Otherwise every head rotates split by rows, then
    /// `storeKeys` runs on the caller with all rows. Each head's rotation is the same arithmetic either way.
    public func rotate(_ rows: UnsafeMutablePointer<Float>, rowStride: Int, queryHeads: Int, keyHeads: Int, positions: UnsafePointer<Int32>,
                       tokens: Int, with rotary: RotaryEmbedding, thenStoringKeys storeKeys: (Range<Int>) -> Void) {
        let heads = queryHeads + keyHeads
        guard pool.threadCount > 1, pool.parts(forElements: tokens * heads * rotary.headDim) == 1 else {
            rotate(rows, rowStride: rowStride, heads: heads, positions: positions, tokens: tokens, inverse: false, with: rotary)
            return storeKeys(0..<tokens)
        }
        if tokens > 1 {
            let shares = ComputePool.split(count: tokens, parts: pool.threadCount)
            pool.run(parts: shares.count) { part in
                let share = shares[part]
                rotary.apply(rows + share.lowerBound * rowStride, rowStride: rowStride, heads: heads, positions: positions + share.lowerBound,
                             tokens: share.count)
                storeKeys(share)
            }
            return
        }
        pool.run(parts: 2) { part in
            if part == 0 {
                rotary.apply(rows, rowStride: rowStride, heads: queryHeads, positions: positions, tokens: tokens)
            } else {
                rotary.apply(rows + queryHeads * rotary.headDim, rowStride: rowStride, heads: keyHeads, positions: positions, tokens: tokens)
                storeKeys(0..<tokens)
            }
        }
    }
}
