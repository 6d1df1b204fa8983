#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Rotary position embedding in the Hugging Face "rotate half" convention (Llama):
/// for `i < d/2`, the pair `(x[i], x[i + d/2])` is rotated by `position · θ^(−2i/d)`.
///
/// Inverse frequencies and angles are computed in Float32 exactly as transformers does
/// (`inv_freq = 1 / base^(arange(0, d, 2) / d)`, `angle = position · inv_freq`) so logits match it;
/// the cosine and sine of each Float32 angle are rounded from Double.
public struct RotaryEmbedding: Sendable {
    public let headDim: Int
    public let theta: Float
    public let inverseFrequencies: [Float]
    /// `cos` then `sin` of each angle for positions `0..<cachedPositions`, `[position, 2, headDim / 2]`.
    private let table: [Float]
    /// Positions whose angles are precomputed; others are computed on the fly, to the same values.
    public let cachedPositions: Int

    /// - Parameters:
    ///   - headDim: even (the Tensor-level ``apply(to:heads:positions:inverse:)`` throws for an odd one;
    ///     the pointer-level apply rotates only the first `2·⌊headDim/2⌋` dimensions).
    ///   - cachedPositions: precompute the angles of positions `0..<cachedPositions` (the context length):
    ///     trigonometry costs far more than the rotation itself.
    public init(headDim: Int, theta: Float, cachedPositions: Int = 0) {
        self.headDim = headDim
        self.theta = theta
        let half = max(0, headDim / 2)
        let inverseFrequencies = (0..<half).map { i in 1 / powf(theta, Float(2 * i) / Float(headDim)) }
        self.inverseFrequencies = inverseFrequencies
        let cachedPositions = max(0, cachedPositions)
        self.cachedPositions = cachedPositions
        var table = [Float](repeating: 0, count: cachedPositions * 2 * half)
        table.withUnsafeMutableBufferPointer { buffer in
            for position in 0..<cachedPositions {
                RotaryEmbedding.angles(
                    of: Int32(position), inverseFrequencies: inverseFrequencies, into: buffer.baseAddress! + 2 * position * half)
            }
        }
        self.table = table
    }

    /// Rotates `heads` heads of each of `tokens` rows in place.
    /// - Parameters:
    ///   - x: row `t` starts at `x + t * rowStride` and holds `heads × headDim` values.
    ///   - positions: `[tokens]` absolute positions.
    ///   - inverse: rotate by the negative angle (the backward pass, since rotation is orthogonal).
    public func apply(
        _ x: UnsafeMutablePointer<Float>, rowStride: Int, heads: Int, positions: UnsafePointer<Int32>,
        tokens: Int, inverse: Bool = false
    ) {
        let half = headDim / 2
        guard half > 0 else { return }
        table.withUnsafeBufferPointer { cached in
            // On the stack: decoding calls this once a layer, and positions past the table are rare.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * half) { computed in
                for t in 0..<tokens {
                    let position = positions[t]
                    let cosines: UnsafePointer<Float>
                    if position >= 0 && Int(position) < cachedPositions {
                        cosines = cached.baseAddress! + 2 * Int(position) * half
                    } else {
                        RotaryEmbedding.angles(of: position, inverseFrequencies: inverseFrequencies, into: computed.baseAddress!)
                        cosines = UnsafePointer(computed.baseAddress!)
                    }
                    for h in 0..<heads {
                        var step = Rotation(first: x + t * rowStride + h * headDim, half: half, cosines: cosines,
                                            sines: cosines + half, sign: inverse ? -1 : 1)
                        VectorMath.forEachVector(half, &step)
                    }
                }
            }
        }
    }

    /// Writes the cosines, then the sines, of `position`'s angles (`2 × headDim / 2` values).
    private static func angles(of position: Int32, inverseFrequencies: [Float], into destination: UnsafeMutablePointer<Float>) {
        let half = inverseFrequencies.count
        for (i, frequency) in inverseFrequencies.enumerated() {
            let angle = Double(Float(position) * frequency)
            destination[i] = Float(cos(angle))
            destination[half + i] = Float(sin(angle))
        }
    }
}

/// Rotates the pairs `(first[i], first[i + half])` by the angles whose cosines and sines are given.
private struct Rotation: VectorStep {
    let first: UnsafeMutablePointer<Float>, half: Int
    let cosines: UnsafePointer<Float>, sines: UnsafePointer<Float>, sign: Float

    @inline(__always) mutating func callAsFunction(_ i: Int, lanes: Int) {
        let c = VectorMath.load(cosines + i, count: lanes), s = VectorMath.load(sines + i, count: lanes) * sign
        let x1 = VectorMath.load(first + i, count: lanes), x2 = VectorMath.load(first + half + i, count: lanes)
        VectorMath.store(x1 * c - x2 * s, first + i, count: lanes)
        VectorMath.store(x2 * c + x1 * s, first + half + i, count: lanes)
    }
}
