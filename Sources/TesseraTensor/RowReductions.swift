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
