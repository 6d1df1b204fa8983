extension Kernels {
    /// √(2/π), the GELU tanh-approximation constant.
    static let geluScale: Float = 0.797_884_560_802_865_4
    /// The cubic coefficient of GPT-2's GELU approximation.
    static let geluCubic: Float = 0.044715

    /// GELU with the tanh approximation used by GPT-2 (`gelu_new`):
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, computed as the equal `x·σ(2u)` with
    /// `u = √(2/π)·(x + 0.044715·x³)` (no cancellation near `1 + tanh ≈ 0`).
    /// `x` and `y` hold `count` elements; `y` may alias `x`.
    public static func gelu(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, pool: ComputePool = .serial
    ) {
        pool.forEachRange(count: count) { range in
            VectorMath.map(x + range.lowerBound, into: y + range.lowerBound, count: range.count) { v in
                v * VectorMath.sigmoid(geluArgument(v))
            }
        }
    }

    /// `dx = dy · gelu'(x)`, with `gelu'(x) = σ + 2x·σ(1 − σ)·√(2/π)·(1 + 3·0.044715·x²)`, `σ = σ(2u)`.
    /// `dx` may alias `dy`.
    public static func geluBackward(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int,
        pool: ComputePool = .serial
    ) {
        pool.forEachRange(count: count) { range in
            let start = range.lowerBound
            VectorMath.map(x + start, dy + start, into: dx + start, count: range.count) { v, g in
                let sigma = VectorMath.sigmoid(geluArgument(v))
                let slope = Vector(repeating: 1).addingProduct(v * v, Vector(repeating: 3 * geluCubic)) * (2 * geluScale)
                return g * sigma.addingProduct(v * sigma * (1 - sigma), slope)
            }
        }
    }

    /// `2u = 2·√(2/π)·(x + 0.044715·x³)`.
    @inline(__always)
    static func geluArgument(_ v: Vector) -> Vector {
        v * Vector(repeating: 1).addingProduct(v * v, Vector(repeating: geluCubic)) * (2 * geluScale)
    }

    /// SiLU: `y = x · σ(x)`. `y` may alias `x`.
    public static func silu(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, pool: ComputePool = .serial
    ) {
        pool.forEachRange(count: count) { range in
            VectorMath.map(x + range.lowerBound, into: y + range.lowerBound, count: range.count) { v in
                v * VectorMath.sigmoid(v)
            }
        }
    }

    /// `dx = dy · σ(x)·(1 + x·(1 − σ(x)))`. `dx` may alias `dy`.
    public static func siluBackward(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int,
        pool: ComputePool = .serial
    ) {
        pool.forEachRange(count: count) { range in
            let start = range.lowerBound
            VectorMath.map(x + start, dy + start, into: dx + start, count: range.count) { v, g in
                g * siluDerivative(v, sigma: VectorMath.sigmoid(v))
            }
        }
    }

    @inline(__always)
    static func siluDerivative(_ v: Vector, sigma: Vector) -> Vector {
        sigma.addingProduct(v * sigma, 1 - sigma)
    }

    /// SwiGLU as in Llama's MLP: `y = silu(gate) · up`. `y` may alias either input.
    public static func swiglu(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int,
        pool: ComputePool = .serial
    ) {
        pool.forEachRange(count: count) { range in
            let start = range.lowerBound
            VectorMath.map(gate + start, up + start, into: y + start, count: range.count) { g, u in
                g * VectorMath.sigmoid(g) * u
            }
        }
    }

    /// Gradients of ``swiglu(gate:up:into:count:pool:)``: `dGate = dy·up·silu'(gate)`, `dUp = dy·silu(gate)`.
    /// `dGate` may alias `gate` or `dy`, `dUp` may alias `up` (each element is read before it is written).
    public static func swigluBackward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>, count: Int, pool: ComputePool = .serial
    ) {
        pool.forEachRange(count: count) { range in
            VectorMath.forEachVector(range.count) { offset, lanes in
                let i = range.lowerBound + offset
                let g = VectorMath.load(gate + i, count: lanes), u = VectorMath.load(up + i, count: lanes)
                let d = VectorMath.load(dy + i, count: lanes)
                let sigma = VectorMath.sigmoid(g)
                VectorMath.store(d * g * sigma, dUp + i, count: lanes)
                VectorMath.store(d * u * siluDerivative(g, sigma: sigma), dGate + i, count: lanes)
            }
        }
    }
}
