extension Kernels {
    /// `maxima[r] = max_c x[r, c]` over the first `columns` values of each row of `x` `[rows, ld]`
    /// (−∞ when `columns` is 0): the first pass of a softmax whose columns are split over ranks.
    public static func rowMaxima(
        _ x: UnsafePointer<Float>, ld: Int, rows: Int, columns: Int, into maxima: UnsafeMutablePointer<Float>,
        pool: ComputePool = .serial
    ) {
        forEachRowRange(rows: rows, columns: columns, pool: pool) { range in
            for r in range { maxima[r] = VectorMath.maximum(x + r * ld, count: columns) }
        }
    }

    /// `sums[r] = Σ_c e^(x[r, c] − shifts[r])` over the first `columns` values of each row of `x`
    /// `[rows, ld]`; with `storingExponentials` each term also replaces its input. Each row is summed as
    /// ``crossEntropy(logits:targets:losses:rows:vocabulary:pool:)`` sums it (lanes, then blocks of 1024 in
    /// Double), so the result does not depend on the pool.
    /// - Precondition: `x[r, c] − shifts[r] ≤ 88.7` (a shift at least the row maximum).
    public static func shiftedExponentialSums(
        _ x: UnsafeMutablePointer<Float>, ld: Int, rows: Int, columns: Int, shifts: UnsafePointer<Float>,
        into sums: UnsafeMutablePointer<Float>, storingExponentials: Bool, pool: ComputePool = .serial
    ) {
        forEachRowRange(rows: rows, columns: columns, pool: pool) { range in
            for r in range {
                let row = x + r * ld
                sums[r] = shiftedExponentialSum(row, count: columns, shift: shifts[r], storingInto: storingExponentials ? row : nil)
            }
        }
    }

    /// `x[r, c] *= factors[r]` over the first `columns` values of each row of `x` `[rows, ld]`.
    public static func scaleRows(
        _ x: UnsafeMutablePointer<Float>, ld: Int, rows: Int, columns: Int, by factors: UnsafePointer<Float>,
        pool: ComputePool = .serial
    ) {
        forEachRowRange(rows: rows, columns: columns, pool: pool) { range in
            for r in range { VectorMath.map(x + r * ld, into: x + r * ld, count: columns, Scaled(alpha: factors[r])) }
        }
    }
}

extension Kernels {
    /// The index of the largest of `x[0 ..< count]`, the lowest among equals: the index the scalar scan
    /// `best = 0; for i in 1..<count where x[i] > x[best] { best = i }` returns, for every input (NaNs are never
    /// larger, so a NaN at 0 gives 0 and NaNs elsewhere are skipped; `−0` and `+0` are equal). Greedy decoding
    /// takes one per sequence and step over the whole vocabulary; the scan's chain of dependent compares runs
    /// several times slower than these two vector passes (the maximum, then its first occurrence).
    /// - Precondition: `count > 0`.
    public static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
        precondition(count > 0, "the arg-max of no values")
        guard !x[0].isNaN else { return 0 }
        // x[0] is a number, so the NaN-ignoring maximum is one of the values and the first equal one is the scan's.
        let largest = VectorMath.maximum(x, count: count), splat = Vector(repeating: largest)
        var i = 0
        while i + VectorMath.width <= count {
            if any(VectorMath.load(x + i) .== splat) { break }
            i += VectorMath.width
        }
        while x[i] != largest { i += 1 }
        return i
    }
}
