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
            guard let first = range.first else { return }
            var shift = VectorMath.maximum(x + first * columns, count: columns)
            for r in range {
                // The next row's maximum (its first pass, from memory) is taken in this row's exponential
                // pass, so its loads overlap the exponentials; the scaling pass reads this row from L1.
                let xr = x + r * columns, yr = y + r * columns
                let next = r + 1 < range.upperBound ? xr + columns : nil
                let (sum, nextShift) = shiftedExponentials(xr, count: columns, shift: shift, into: yr, maximumOf: next)
                VectorMath.map(yr, into: yr, count: columns, Scaled(alpha: 1 / sum))
                shift = nextShift
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
                let dot = VectorMath.dot(yr, dyr, count: columns)
                VectorMath.map(yr, dyr, into: dx + r * columns, count: columns, SoftmaxGradient(dot: dot))
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
                VectorMath.map(lr, into: lr, count: vocabulary, Scaled(alpha: factor))
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
        if let y { return shiftedExponentials(x, count: count, shift: shift, into: y, maximumOf: nil).sum }
        var total = 0.0
        for blockStart in stride(from: 0, to: count, by: 1024) {
            let length = min(1024, count - blockStart)
            total += Double(VectorMath.reduce(count: length, ShiftedExponentialTerms(x: x + blockStart, shift: Vector(repeating: shift))))
        }
        return Float(total)
    }

    /// Writes `e^(x[i] − shift)` into `y` (may alias `x`) and returns their sum, summed as
    /// ``shiftedExponentialSum(_:count:shift:storingInto:)`` sums; with `next`, also max `next[0..<count]`
    /// (−∞ without), taken in the same loops.
    @inline(__always)
    static func shiftedExponentials(
        _ x: UnsafePointer<Float>, count: Int, shift: Float, into y: UnsafeMutablePointer<Float>,
        maximumOf next: UnsafePointer<Float>?
    ) -> (sum: Float, nextMaximum: Float) {
        var total = 0.0, nextMaximum = -Float.infinity
        for blockStart in stride(from: 0, to: count, by: 1024) {
            let length = min(1024, count - blockStart)
            var step = ShiftedExponentials(x: x + blockStart, y: y + blockStart, shift: Vector(repeating: shift))
            if let next {
                nextMaximum = max(nextMaximum, VectorMath.forEachVector(length, &step, maximumOf: next + blockStart))
            } else {
                VectorMath.forEachVector(length, &step)
            }
            total += Double(step.sum.sum())
        }
        return (Float(total), nextMaximum)
    }
}

/// `y·(dy − dot)` from `(y, dy)`.
private struct SoftmaxGradient: VectorFunction2 {
    let dot: Float
    @inline(__always) func callAsFunction(_ y: Vector, _ dy: Vector) -> Vector { y * (dy - dot) }
}

/// `e^(x − shift)`, zero past a partial vector (padded with −∞).
private struct ShiftedExponentialTerms: VectorTerm {
    let x: UnsafePointer<Float>, shift: Vector
    @inline(__always) func callAsFunction(_ i: Int, lanes: Int) -> Vector {
        VectorMath.exp(VectorMath.load(x + i, count: lanes, padding: -.infinity) - shift)
    }
}

/// Writes `e^(x − shift)` and sums it.
private struct ShiftedExponentials: VectorStep {
    let x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, shift: Vector
    var sum = Vector()

    @inline(__always) mutating func callAsFunction(_ i: Int, lanes: Int) {
        let e = VectorMath.exp(VectorMath.load(x + i, count: lanes, padding: -.infinity) - shift)
        VectorMath.store(e, y + i, count: lanes)
        sum += e
    }
}
