extension Kernels {
    /// `x[r, c] += bias[c]` for `rows × columns` in place.
    public static func addBias(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows {
            let row = x + r * columns
            for c in 0..<columns { row[c] += bias[c] }
        }
    }

    /// `dBias[c] += Σ_r dy[r, c]` (the backward of ``addBias(_:bias:rows:columns:)``).
    public static func biasBackward(_ dy: UnsafePointer<Float>, rows: Int, columns: Int, accumulatingInto dBias: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = dy + r * columns
            for c in 0..<columns { dBias[c] += row[c] }
        }
    }

    /// `y[i] = a[i] + b[i]`; `y` may alias `a` or `b`.
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = a[i] + b[i] }
    }

    /// `y[i] += alpha * x[i]`.
    public static func axpy(_ x: UnsafePointer<Float>, alpha: Float = 1, accumulatingInto y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += alpha * x[i] }
    }

    /// `x[i] *= alpha` in place.
    public static func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count: Int) {
        for i in 0..<count { x[i] *= alpha }
    }

    /// Σ x[i]² accumulated in Double (for gradient norms).
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        for i in 0..<count { total += Double(x[i]) * Double(x[i]) }
        return total
    }
}
