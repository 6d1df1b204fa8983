import Testing
import TesseraTensor

/// The one comparison every kernel test uses: max-norm relative error against a float64 reference,
/// `max|actual − expected| / max|expected|`.
enum Comparison {
    static let tolerance = 1e-5

    static func maxRelativeError(_ actual: [Float], _ expected: [Double]) -> Double {
        precondition(actual.count == expected.count, "compared \(actual.count) values with \(expected.count)")
        var difference = 0.0, scale = 0.0
        for (a, e) in zip(actual, expected) {
            difference = max(difference, abs(Double(a) - e))
            scale = max(scale, abs(e))
        }
        if difference.isNaN || actual.contains(where: { !$0.isFinite }) { return .infinity }
        return scale == 0 ? difference : difference / scale
    }

    static func isClose(_ actual: [Float], _ expected: [Double], tolerance: Double = tolerance) -> Bool {
        maxRelativeError(actual, expected) <= tolerance
    }

    static func expectClose(
        _ actual: [Float], _ expected: [Double], tolerance: Double = tolerance, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let error = maxRelativeError(actual, expected)
        #expect(error <= tolerance, "\(what): max relative error \(error) > \(tolerance)", sourceLocation: sourceLocation)
    }

    /// The gradient of `loss` at `x` by central differences in float64 (step `h·max(1, |xᵢ|)`).
    static func numericalGradient(at x: [Double], h: Double = 1e-5, _ loss: ([Double]) -> Double) -> [Double] {
        var point = x
        return (0..<x.count).map { i in
            let step = h * max(1, abs(x[i]))
            point[i] = x[i] + step
            let up = loss(point)
            point[i] = x[i] - step
            let down = loss(point)
            point[i] = x[i]
            return (up - down) / (2 * step)
        }
    }

    /// `Σ weights ⊙ values`: turns a vector function into the scalar loss whose gradient is its backward.
    static func weightedSum(_ values: [Double], _ weights: [Double]) -> Double {
        zip(values, weights).reduce(0) { $0 + $1.0 * $1.1 }
    }
}

/// Deterministic test data and the pools every kernel runs on.
enum Fixtures {
    static func values(_ count: Int, stream: String, scale: Float = 1, offset: Float = 0) -> [Float] {
        let rng = DeterministicRandom(seed: 11, stream: stream)
        return (0..<count).map { offset + scale * rng.normal(at: $0) }
    }

    static func tensor(_ shape: [Int], stream: String, scale: Float = 1, offset: Float = 0) -> Tensor {
        try! Tensor(shape: shape, scalars: values(shape.reduce(1, *), stream: stream, scale: scale, offset: offset))
    }

    /// The serial pool, a three-thread pool that splits even tiny inputs, so tests exercise the parallel split,
    /// and a two-thread pool whose waits always spin first; kernels must give the same bits on all.
    static let pools = [ComputePool.serial, ComputePool(threads: 3, minimumElementsPerThread: 8),
                        ComputePool(threads: 2, minimumElementsPerThread: 8, spinning: .always)]
}

extension Tensor {
    var doubles: [Double] { scalars.map(Double.init) }
}

extension Array where Element == Float {
    var doubles: [Double] { map(Double.init) }
}
