#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

extension Kernels {
    /// Row-wise softmax of `x` `[rows, columns]` into `y` (may alias `x`).
    public static func softmax(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows {
            let xr = x + r * columns, yr = y + r * columns
            var m = -Float.infinity
            for c in 0..<columns { m = max(m, xr[c]) }
            var sum: Float = 0
            for c in 0..<columns {
                let e = expf(xr[c] - m)
                yr[c] = e
                sum += e
            }
            let inv = 1 / sum
            for c in 0..<columns { yr[c] *= inv }
        }
    }

    /// `dx = y ⊙ (dy − Σ dy ⊙ y)` row-wise, from the softmax output `y`. `dx` may alias `dy`.
    public static func softmaxBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows {
            let yr = y + r * columns, dyr = dy + r * columns, dxr = dx + r * columns
            var dot: Float = 0
            for c in 0..<columns { dot += yr[c] * dyr[c] }
            for c in 0..<columns { dxr[c] = yr[c] * (dyr[c] - dot) }
        }
    }

    /// Cross-entropy of each row of `logits` `[rows, vocabulary]` against `targets` `[rows]`:
    /// `losses[r] = logsumexp(logits[r]) − logits[r, targets[r]]`. Targets must lie in `0..<vocabulary`.
    public static func crossEntropy(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, losses: UnsafeMutablePointer<Float>,
        rows: Int, vocabulary: Int
    ) {
        for r in 0..<rows {
            let lr = logits + r * vocabulary
            var m = -Float.infinity
            for c in 0..<vocabulary { m = max(m, lr[c]) }
            var sum: Float = 0
            for c in 0..<vocabulary { sum += expf(lr[c] - m) }
            losses[r] = logf(sum) + m - lr[Int(targets[r])]
        }
    }

    /// Fused softmax cross-entropy forward and backward, in place as llm.c does: writes `losses` and
    /// overwrites each logit with its gradient `gradientScale · (softmax − onehot(target))`.
    /// `gradientScale` is `∂L/∂loss[r]` (e.g. `1 / (number of targets in the global batch)`).
    public static func crossEntropyWithGradient(
        logitsToGradients logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>,
        losses: UnsafeMutablePointer<Float>, rows: Int, vocabulary: Int, gradientScale: Float
    ) {
        for r in 0..<rows {
            let lr = logits + r * vocabulary
            var m = -Float.infinity
            for c in 0..<vocabulary { m = max(m, lr[c]) }
            var sum: Float = 0
            for c in 0..<vocabulary { sum += expf(lr[c] - m) }
            let target = Int(targets[r])
            losses[r] = logf(sum) + m - lr[target]
            let inv = 1 / sum
            for c in 0..<vocabulary { lr[c] = expf(lr[c] - m) * inv * gradientScale }
            lr[target] -= gradientScale
        }
    }
}
