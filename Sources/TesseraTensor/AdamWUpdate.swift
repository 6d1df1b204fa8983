/// The constants of one AdamW step for one group of parameters (see ``Kernels/adamW(values:gradients:firstMoments:secondMoments:count:step:pool:)``).
public struct AdamWStep: Sendable {
    /// `1 − lr·λ` for parameters that decay, 1 otherwise.
    public var decayFactor: Float
    public var beta1: Float
    public var beta2: Float
    /// `lr / (1 − β₁ᵗ)`.
    public var stepSize: Float
    /// `√(1 − β₂ᵗ)`.
    public var correction2: Float
    public var epsilon: Float
    /// Every gradient is read times this factor (gradient clipping's coefficient; 1 leaves it exact).
    public var gradientScale: Float

    public init(decayFactor: Float, beta1: Float, beta2: Float, stepSize: Float, correction2: Float, epsilon: Float,
                gradientScale: Float = 1) {
        (self.decayFactor, self.beta1, self.beta2) = (decayFactor, beta1, beta2)
        (self.stepSize, self.correction2, self.epsilon, self.gradientScale) = (stepSize, correction2, epsilon, gradientScale)
    }
}

extension Kernels {
    /// One AdamW update in place, in `torch.optim.AdamW`'s order, with `g = gradient · gradientScale`: `θ ← θ·decayFactor`,
    /// `m ← m + (1 − β₁)(g − m)`, `v ← β₂·v + (1 − β₂)·g²`, `θ ← θ − stepSize · m / (√v / correction2 + ε)`.
    ///
    /// One pass over the four arrays, 16 lanes at a time, each operation rounded on its own (no fused
    /// multiply-adds), so every element gets the bits of the scalar formula and every pool size the same
    /// result.
    public static func adamW(
        values: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, firstMoments m: UnsafeMutablePointer<Float>,
        secondMoments v: UnsafeMutablePointer<Float>, count: Int, step: AdamWStep, pool: ComputePool = .serial
    ) {
        pool.forEachRange(count: count) { range in
            let start = range.lowerBound
            var update = AdamWUpdate(values: values + start, gradients: gradients + start, m: m + start, v: v + start, step: step)
            VectorMath.forEachVector(range.count, &update)
        }
    }
}

/// The AdamW formula on one vector of parameters.
private struct AdamWUpdate: VectorStep {
    let values: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>
    let m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
    let scale, decay, oneMinusBeta1, beta2, oneMinusBeta2, stepSize, correction2, epsilon: Vector

    init(values: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
         v: UnsafeMutablePointer<Float>, step: AdamWStep) {
        (self.values, self.gradients, self.m, self.v) = (values, gradients, m, v)
        scale = Vector(repeating: step.gradientScale)
        decay = Vector(repeating: step.decayFactor)
        oneMinusBeta1 = Vector(repeating: 1 - step.beta1)
        beta2 = Vector(repeating: step.beta2)
        oneMinusBeta2 = Vector(repeating: 1 - step.beta2)
        stepSize = Vector(repeating: step.stepSize)
        correction2 = Vector(repeating: step.correction2)
        epsilon = Vector(repeating: step.epsilon)
    }

    @inline(__always) mutating func callAsFunction(_ i: Int, lanes: Int) {
        let g = VectorMath.load(gradients + i, count: lanes) * scale
        let theta = VectorMath.load(values + i, count: lanes) * decay
        let m0 = VectorMath.load(m + i, count: lanes), v0 = VectorMath.load(v + i, count: lanes)
        let mi = m0 + oneMinusBeta1 * (g - m0)
        let vi = v0 * beta2 + oneMinusBeta2 * (g * g)
        VectorMath.store(mi, m + i, count: lanes)
        VectorMath.store(vi, v + i, count: lanes)
        VectorMath.store(theta - stepSize * (mi / (vi.squareRoot() / correction2 + epsilon)), values + i, count: lanes)
    }
}
