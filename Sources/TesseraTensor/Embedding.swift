extension Kernels {
    /// Embedding lookup `out[t] = table[ids[t] − vocabularyStart]` for ids in
    /// `vocabularyStart ..< vocabularyStart + vocabularyCount`; rows of ids outside that range are zero
    /// (the vocab-parallel case, where each rank owns a slice of the vocabulary).
    /// - Parameters: `table` `[vocabularyCount, columns]`, `out` `[tokens, columns]`.
    public static func embedding(
        ids: UnsafePointer<Int32>, table: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
        tokens: Int, columns: Int, vocabularyStart: Int = 0, vocabularyCount: Int
    ) {
        for t in 0..<tokens {
            let row = Int(ids[t]) - vocabularyStart
            let dst = out + t * columns
            if row >= 0 && row < vocabularyCount {
                dst.update(from: table + row * columns, count: columns)
            } else {
                dst.update(repeating: 0, count: columns)
            }
        }
    }

    /// Backward of ``embedding(ids:table:into:tokens:columns:vocabularyStart:vocabularyCount:)``:
    /// `dTable[ids[t] − vocabularyStart] += dOut[t]` for ids in range.
    public static func embeddingBackward(
        ids: UnsafePointer<Int32>, _ dOut: UnsafePointer<Float>, accumulatingInto dTable: UnsafeMutablePointer<Float>,
        tokens: Int, columns: Int, vocabularyStart: Int = 0, vocabularyCount: Int
    ) {
        for t in 0..<tokens {
            let row = Int(ids[t]) - vocabularyStart
            guard row >= 0 && row < vocabularyCount else { continue }
            let dst = dTable + row * columns, src = dOut + t * columns
            for c in 0..<columns { dst[c] += src[c] }
        }
    }
}
