#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

extension Kernels {
    /// Row-wise softmax of `x` `[rows, columns]` into `y` (may alias `x`).
    public static func softmax(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
        pool: ComputePool = .serial
    ) {
        forEachRowRange(rows: rows, columns: columns, pool: pool) { range in
            for r in range {
                let xr = x + r * columns, yr = y + r * columns
                let shift = VectorMath.maximum(xr, count: columns)
                let inverse = 1 / shiftedExponentialSum(xr, count: columns, shift: shift, storingInto: yr)
                VectorMath.map(yr, into: yr, count: columns) { $0 * inverse }
            }
        }
    }

    /// `dx = y ⊙ (dy − Σ dy ⊙ y)` row-wise, from the softmax output `y`. `dx` may alias `dy`.
    public static func softmaxBackward(
        _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, rows: Int,
        columns: Int, pool: ComputePool = .serial
    ) {
        forEachRowRange(rows: rows, columns: columns, pool: pool) { range in
            for r in range {
                let yr = y + r * columns, dyr = dy + r * columns
                let dot = Vector(repeating: VectorMath.dot(yr, dyr, count: columns))
                VectorMath.map(yr, dyr, into: dx + r * columns, count: columns) { p, g in p * (g - dot) }
            }
        }
    }

    /// Cross-entropy of each row of `logits` `[rows, vocabulary]` against `targets` `[rows]`:
    /// `losses[r] = logsumexp(logits[r]) − logits[r, targets[r]]`. Targets must lie in `0..<vocabulary`.
    public static func crossEntropy(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, losses: UnsafeMutablePointer<Float>,
        rows: Int, vocabulary: Int, pool: ComputePool = .serial
    ) {
        forEachRowRange(rows: rows, columns: vocabulary, pool: pool) { range in
            for r in range {
                let lr = logits + r * vocabulary
                let shift = VectorMath.maximum(lr, count: vocabulary)
                let sum = shiftedExponentialSum(lr, count: vocabulary, shift: shift, storingInto: nil)
                losses[r] = logf(sum) + shift - lr[Int(targets[r])]
            }
        }
    }

    /// Fused softmax cross-entropy forward and backward, in place as llm.c does: writes `losses` and
    /// overwrites each logit with its gradient `gradientScale · (softmax − onehot(target))`.
    /// `gradientScale` is `∂L/∂loss[r]` (e.g. `1 / (number of targets in the global batch)`).
    /// Each row is read from memory once: the exponentials are stored in place, then scaled.
    public static func crossEntropyWithGradient(
        logitsToGradients logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>,
        losses: UnsafeMutablePointer<Float>, rows: Int, vocabulary: Int, gradientScale: Float,
        pool: ComputePool = .serial
    ) {
        forEachRowRange(rows: rows, columns: vocabulary, pool: pool) { range in
            for r in range {
                let lr = logits + r * vocabulary
                let target = Int(targets[r])
                let targetLogit = lr[target]
                let shift = VectorMath.maximum(lr, count: vocabulary)
                let sum = shiftedExponentialSum(lr, count: vocabulary, shift: shift, storingInto: lr)
                losses[r] = logf(sum) + shift - targetLogit
                let factor = gradientScale / sum
                VectorMath.map(lr, into: lr, count: vocabulary) { $0 * factor }
                lr[target] -= gradientScale
            }
        }
    }

    /// Σ `e^(x[i] − shift)` over `0..<count`, optionally writing each term into `y` (may alias `x`).
    ///
    /// Terms are summed per lane in blocks of 1024 elements and the block sums in Double, so long rows
    /// (a 50k vocabulary) keep the sum's error near one rounding.
    @inline(__always)
    static func shiftedExponentialSum(
        _ x: UnsafePointer<Float>, count: Int, shift: Float, storingInto y: UnsafeMutablePointer<Float>?
    ) -> Float {
        let center = Vector(repeating: shift)
        var total = 0.0
        for blockStart in stride(from: 0, to: count, by: 1024) {
            var sum = Vector()
            VectorMath.forEachVector(min(1024, count - blockStart)) { offset, lanes in
                let i = blockStart + offset
                let e = VectorMath.exp(VectorMath.load(x + i, count: lanes, padding: -.infinity) - center)
                if let y { VectorMath.store(e, y + i, count: lanes) }
                sum += e
            }
            total += Double(sum.sum())
        }
        return Float(total)
    }
}
