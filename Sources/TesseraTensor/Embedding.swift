extension Kernels {
    /// Embedding lookup `out[t] = table[ids[t] − vocabularyStart]` for ids in
    /// `vocabularyStart ..< vocabularyStart + vocabularyCount`; rows of ids outside that range are zero
    /// (the vocab-parallel case, where each rank owns a slice of the vocabulary).
    /// - Parameters: `table` `[vocabularyCount, columns]`, `out` `[tokens, columns]`.
    public static func embedding(
        ids: UnsafePointer<Int32>, table: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
        tokens: Int, columns: Int, vocabularyStart: Int = 0, vocabularyCount: Int, pool: ComputePool = .serial
    ) {
        forEachRowRange(rows: tokens, columns: columns, pool: pool) { range in
            for t in range {
                let row = Int(ids[t]) - vocabularyStart
                let destination = out + t * columns
                if row >= 0 && row < vocabularyCount {
                    destination.update(from: table + row * columns, count: columns)
                } else {
                    destination.update(repeating: 0, count: columns)
                }
            }
        }
    }

    /// Backward of ``embedding(ids:table:into:tokens:columns:vocabularyStart:vocabularyCount:pool:)``:
    /// `dTable[ids[t] − vocabularyStart] += dOut[t]` for ids in range.
    ///
    /// Threads split the columns, so repeated ids never race and every pool gives the same bits
    /// (each element sums its tokens in order).
    public static func embeddingBackward(
        ids: UnsafePointer<Int32>, _ dOut: UnsafePointer<Float>, accumulatingInto dTable: UnsafeMutablePointer<Float>,
        tokens: Int, columns: Int, vocabularyStart: Int = 0, vocabularyCount: Int, pool: ComputePool = .serial
    ) {
        pool.forEachRange(count: columns, minimumPerPart: max(16, pool.minimumElementsPerThread / max(1, tokens))) { range in
            for t in 0..<tokens {
                let row = Int(ids[t]) - vocabularyStart
                guard row >= 0 && row < vocabularyCount else { continue }
                let destination = dTable + row * columns + range.lowerBound
                VectorMath.map(destination, dOut + t * columns + range.lowerBound, into: destination, count: range.count, Sum())
            }
        }
    }
}
