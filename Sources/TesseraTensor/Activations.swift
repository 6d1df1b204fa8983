#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

extension Kernels {
    /// GELU with the tanh approximation used by GPT-2 (`gelu_new`):
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    public static func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        let s: Float = 0.797_884_560_802_865_4  // √(2/π)
        for i in 0..<count {
            let v = x[i]
            y[i] = 0.5 * v * (1 + tanhf(s * (v + 0.044715 * v * v * v)))
        }
    }

    /// `dx = dy · gelu'(x)`.
    public static func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int) {
        let s: Float = 0.797_884_560_802_865_4
        for i in 0..<count {
            let v = x[i]
            let inner = s * (v + 0.044715 * v * v * v)
            let t = tanhf(inner)
            let sech2 = 1 - t * t
            let derivative = 0.5 * (1 + t) + 0.5 * v * sech2 * s * (1 + 3 * 0.044715 * v * v)
            dx[i] = dy[i] * derivative
        }
    }

    /// SiLU: `y = x · σ(x)`.
    public static func silu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = x[i] / (1 + expf(-x[i])) }
    }

    /// `dx = dy · σ(x)·(1 + x·(1 − σ(x)))`.
    public static func siluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let sigma = 1 / (1 + expf(-x[i]))
            dx[i] = dy[i] * sigma * (1 + x[i] * (1 - sigma))
        }
    }

    /// SwiGLU as in Llama's MLP: `y = silu(gate) · up`.
    public static func swiglu(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = gate[i] / (1 + expf(-gate[i])) * up[i] }
    }

    /// Gradients of ``swiglu(gate:up:into:count:)``: `dGate = dy·up·silu'(gate)`, `dUp = dy·silu(gate)`.
    public static func swigluBackward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count {
            let sigma = 1 / (1 + expf(-gate[i]))
            let s = gate[i] * sigma
            dUp[i] = dy[i] * s
            dGate[i] = dy[i] * up[i] * sigma * (1 + gate[i] * (1 - sigma))
        }
    }
}
