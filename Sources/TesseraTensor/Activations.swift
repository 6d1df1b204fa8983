extension Kernels {
    /// GELU with the tanh approximation used by GPT-2 (`gelu_new`):
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, computed as the equal `x·σ(2u)` with
    /// `u = √(2/π)·(x + 0.044715·x³)` (no cancellation near `1 + tanh ≈ 0`).
    /// `x` and `y` hold `count` elements; `y` may alias `x`.
    public static func gelu(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, pool: ComputePool = .serial
    ) {
        parallelMap(x, into: y, count: count, pool: pool, GELU())
    }

    /// `dx = dy · gelu'(x)`, with `gelu'(x) = σ + 2x·σ(1 − σ)·√(2/π)·(1 + 3·0.044715·x²)`, `σ = σ(2u)`.
    /// `dx` may alias `dy`.
    public static func geluBackward(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int,
        pool: ComputePool = .serial
    ) {
        parallelMap(x, dy, into: dx, count: count, pool: pool, GELUGradient())
    }

    /// SiLU: `y = x · σ(x)`. `y` may alias `x`.
    public static func silu(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, pool: ComputePool = .serial
    ) {
        parallelMap(x, into: y, count: count, pool: pool, SiLU())
    }

    /// `dx = dy · σ(x)·(1 + x·(1 − σ(x)))`. `dx` may alias `dy`.
    public static func siluBackward(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int,
        pool: ComputePool = .serial
    ) {
        parallelMap(x, dy, into: dx, count: count, pool: pool, SiLUGradient())
    }

    /// SwiGLU as in Llama's MLP: `y = silu(gate) · up`. `y` may alias either input.
    public static func swiglu(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int,
        pool: ComputePool = .serial
    ) {
        parallelMap(gate, up, into: y, count: count, pool: pool, SwiGLU())
    }

    /// Gradients of ``swiglu(gate:up:into:count:pool:)``: `dGate = dy·up·silu'(gate)`, `dUp = dy·silu(gate)`.
    /// `dGate` may alias `gate` or `dy`, `dUp` may alias `up` (each element is read before it is written).
    public static func swigluBackward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>, count: Int, pool: ComputePool = .serial
    ) {
        pool.forEachRange(count: count) { range in
            let start = range.lowerBound
            var step = SwiGLUGradient(gate: gate + start, up: up + start, dy: dy + start, dGate: dGate + start, dUp: dUp + start)
            VectorMath.forEachVector(range.count, &step)
        }
    }
}

/// √(2/π) and the cubic coefficient of GPT-2's GELU approximation.
private let geluScale: Float = 0.797_884_560_802_865_4, geluCubic: Float = 0.044715

/// `x·σ(2u)`, `2u = 2·√(2/π)·(x + 0.044715·x³)`.
private struct GELU: VectorFunction {
    @inline(__always) func callAsFunction(_ x: Vector) -> Vector { x * VectorMath.sigmoid(negated: GELU.negatedArgument(x)) }

    /// `−2u = x·(−2√(2/π) − 2√(2/π)·0.044715·x²)`, constants folded.
    @inline(__always) static func negatedArgument(_ x: Vector) -> Vector {
        x * Vector(repeating: -2 * geluScale).addingProduct(x * x, Vector(repeating: -2 * geluScale * geluCubic))
    }
}

/// `dy · gelu'(x)` from `(x, dy)`.
private struct GELUGradient: VectorFunction2 {
    @inline(__always) func callAsFunction(_ x: Vector, _ dy: Vector) -> Vector {
        let sigma = VectorMath.sigmoid(negated: GELU.negatedArgument(x))
        let slope = Vector(repeating: 2 * geluScale).addingProduct(x * x, Vector(repeating: 6 * geluScale * geluCubic))
        return dy * sigma.addingProduct(x * sigma * (1 - sigma), slope)
    }
}

/// `x·σ(x)`.
private struct SiLU: VectorFunction {
    @inline(__always) func callAsFunction(_ x: Vector) -> Vector { x * VectorMath.sigmoid(x) }

    /// `silu'(x) = σ + x·σ·(1 − σ)`.
    @inline(__always) static func derivative(_ x: Vector, sigma: Vector) -> Vector { sigma.addingProduct(x * sigma, 1 - sigma) }
}

/// `dy · silu'(x)` from `(x, dy)`.
private struct SiLUGradient: VectorFunction2 {
    @inline(__always) func callAsFunction(_ x: Vector, _ dy: Vector) -> Vector {
        dy * SiLU.derivative(x, sigma: VectorMath.sigmoid(x))
    }
}

/// `silu(gate)·up` from `(gate, up)`.
private struct SwiGLU: VectorFunction2 {
    @inline(__always) func callAsFunction(_ gate: Vector, _ up: Vector) -> Vector { SiLU()(gate) * up }
}

/// Both SwiGLU gradients of one vector.
private struct SwiGLUGradient: VectorStep {
    let gate: UnsafePointer<Float>, up: UnsafePointer<Float>, dy: UnsafePointer<Float>
    let dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>

    @inline(__always) mutating func callAsFunction(_ i: Int, lanes: Int) {
        let g = VectorMath.load(gate + i, count: lanes), u = VectorMath.load(up + i, count: lanes)
        let d = VectorMath.load(dy + i, count: lanes)
        let sigma = VectorMath.sigmoid(g)
        VectorMath.store(d * g * sigma, dUp + i, count: lanes)
        VectorMath.store(d * u * SiLU.derivative(g, sigma: sigma), dGate + i, count: lanes)
    }
}
