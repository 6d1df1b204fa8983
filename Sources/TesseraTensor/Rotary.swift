#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Rotary position embedding tables in the Hugging Face "rotate half" convention (Llama):
/// for `i < d/2`, the pair `(x[i], x[i + d/2])` is rotated by `position · θ^(−2i/d)`.
///
/// Inverse frequencies and angles are computed in Float32 exactly as transformers does
/// (`inv_freq = 1 / base^(arange(0, d, 2) / d)`, `angle = position · inv_freq`) so logits match it.
public struct RotaryEmbedding: Sendable {
    public let headDim: Int
    public let theta: Float
    public let inverseFrequencies: [Float]

    public init(headDim: Int, theta: Float) {
        precondition(headDim % 2 == 0, "rotary head dimension must be even")
        self.headDim = headDim
        self.theta = theta
        self.inverseFrequencies = (0..<headDim / 2).map { i in
            1 / powf(theta, Float(2 * i) / Float(headDim))
        }
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
        for t in 0..<tokens {
            let position = Float(positions[t])
            for i in 0..<half {
                let angle = Double(position * inverseFrequencies[i])
                let c = Float(cos(angle))
                let s = inverse ? -Float(sin(angle)) : Float(sin(angle))
                for h in 0..<heads {
                    let p = x + t * rowStride + h * headDim
                    let x1 = p[i], x2 = p[i + half]
                    p[i] = x1 * c - x2 * s
                    p[i + half] = x2 * c + x1 * s
                }
            }
        }
    }
}
