import Testing
import TesseraTensor

@Suite struct ActivationTests {
    /// 37 × 70: not a multiple of the 16-lane vectors, so every kernel's tail path runs.
    static let shape = [37, 70]

    @Test(arguments: Fixtures.pools)
    func geluForwardAndBackward(pool: ComputePool) throws {
        try Self.checkActivation("gelu", scale: 3, pool: pool, Reference.gelu, { $0.gelu(pool: $1) }, Tensor.geluBackward)
    }

    @Test(arguments: Fixtures.pools)
    func siluForwardAndBackward(pool: ComputePool) throws {
        try Self.checkActivation("silu", scale: 4, pool: pool, Reference.silu, { $0.silu(pool: $1) }, Tensor.siluBackward)
    }

    /// An element-wise activation against its float64 definition, its backward against central differences
    /// of that definition, and the same bits on `pool` as on the serial pool.
    static func checkActivation(
        _ name: String, scale: Float, pool: ComputePool, _ reference: (Double) -> Double,
        _ forward: (Tensor, ComputePool) -> Tensor, _ backward: (Tensor, Tensor, ComputePool) throws -> Tensor,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let x = Fixtures.tensor(shape, stream: "\(name).x", scale: scale), dy = Fixtures.tensor(shape, stream: "\(name).dy")
        let (xs, dys) = (x.doubles, dy.doubles)
        let y = forward(x, pool), dx = try backward(x, dy, pool)
        Comparison.expectClose(y.scalars, xs.map(reference), name, sourceLocation: sourceLocation)
        let expected = xs.indices.map { i in Comparison.numericalGradient(at: [xs[i]]) { reference($0[0]) }[0] * dys[i] }
        Comparison.expectClose(dx.scalars, expected, "\(name) backward", sourceLocation: sourceLocation)
        let serial = (forward(x, .serial), try backward(x, dy, .serial))
        #expect(y == serial.0 && dx == serial.1, "the pool changed the bits", sourceLocation: sourceLocation)
    }

    /// The vectorized exponential over its whole normal range, element by element (not just max-norm):
    /// SiLU's `σ(x)` reaches `e^(−87)`.
    @Test func exponentialIsAccurateOverItsRange() {
        let xs = stride(from: -87.0, through: 88.0, by: 0.0137).map { Float($0) }
        let x = try! Tensor(shape: [xs.count], scalars: xs)
        let y = x.silu()
        var worst = 0.0
        for (i, value) in xs.enumerated() where value != 0 {
            let expected = Reference.silu(Double(value))
            worst = max(worst, abs(Double(y[flat: i]) - expected) / abs(expected))
        }
        #expect(worst < 1e-6, "worst element-wise relative error \(worst)")
        let extremes = try! Tensor(shape: [4], scalars: [-200, -100, 200, .infinity]).silu()
        #expect(abs(extremes[flat: 0]) < 1e-30 && abs(extremes[flat: 1]) < 1e-30)
        #expect(extremes[flat: 2] == 200 && extremes[flat: 3] == .infinity)
        #expect(try! Tensor(shape: [1], scalars: [.nan]).silu()[flat: 0].isNaN)
    }

    @Test(arguments: Fixtures.pools)
    func swigluForwardAndBackward(pool: ComputePool) throws {
        let gate = Fixtures.tensor(Self.shape, stream: "swiglu.gate", scale: 3)
        let up = Fixtures.tensor(Self.shape, stream: "swiglu.up")
        let dy = Fixtures.tensor(Self.shape, stream: "swiglu.dy")
        let y = try Tensor.swiglu(gate: gate, up: up, pool: pool)
        Comparison.expectClose(y.scalars, zip(gate.doubles, up.doubles).map { Reference.silu($0) * $1 }, "swiglu")
        let (dGate, dUp) = try Tensor.swigluBackward(gate: gate, up: up, dy, pool: pool)
        var expectedGate: [Double] = [], expectedUp: [Double] = []
        let (gates, ups, dys) = (gate.doubles, up.doubles, dy.doubles)
        for i in 0..<gate.count {
            let gradient = Comparison.numericalGradient(at: [gates[i], ups[i]]) { Reference.silu($0[0]) * $0[1] }
            expectedGate.append(gradient[0] * dys[i])
            expectedUp.append(gradient[1] * dys[i])
        }
        Comparison.expectClose(dGate.scalars, expectedGate, "swiglu dGate")
        Comparison.expectClose(dUp.scalars, expectedUp, "swiglu dUp")
        let serial = try Tensor.swigluBackward(gate: gate, up: up, dy)
        let serialForward = try Tensor.swiglu(gate: gate, up: up)
        #expect(serial.dGate == dGate && serial.dUp == dUp && y == serialForward, "the pool changed the bits")
    }

    @Test(arguments: Fixtures.pools)
    func biasForwardAndBackward(pool: ComputePool) throws {
        let x = Fixtures.tensor([3, 37, 70], stream: "bias.x")
        let bias = Fixtures.tensor([70], stream: "bias.b")
        let y = try x.addingBias(bias, pool: pool)
        let (xs, biases) = (x.doubles, bias.doubles)
        Comparison.expectClose(y.scalars, xs.indices.map { xs[$0] + biases[$0 % 70] }, "bias add")
        let dy = Fixtures.tensor([3, 37, 70], stream: "bias.dy")
        let dBias = try Tensor.biasBackward(dy, pool: pool)
        let dys = dy.doubles
        let expected = Comparison.numericalGradient(at: biases) { b in
            Comparison.weightedSum(xs.indices.map { xs[$0] + b[$0 % 70] }, dys)
        }
        Comparison.expectClose(dBias.scalars, expected, "bias backward")
        let serial = try Tensor.biasBackward(dy)
        #expect(dBias == serial, "the pool changed the bits")
    }

    /// Bias backward reads each row block's two halves side by side; with integer rows the sums are
    /// exact, so a row counted twice or skipped (an odd half, a one-row block) changes the result.
    @Test(arguments: Fixtures.pools, [1, 2, 3, 16, 17, 31, 33, 100, 1001])
    func biasBackwardCountsEveryRowOnce(pool: ComputePool, rows: Int) throws {
        let columns = 21
        let dy = try Tensor(shape: [rows, columns], scalars: (0..<rows * columns).map { Float($0 / columns + 1) })
        let dBias = try Tensor.biasBackward(dy, pool: pool)
        #expect(dBias.scalars == [Float](repeating: Float(rows * (rows + 1) / 2), count: columns))
    }

    @Test(arguments: Fixtures.pools)
    func vectorUtilities(pool: ComputePool) {
        let a = Fixtures.values(1000, stream: "util.a"), b = Fixtures.values(1000, stream: "util.b")
        var sum = [Float](repeating: 0, count: 1000), axpy = b, scaled = a
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                sum.withUnsafeMutableBufferPointer {
                    Kernels.add(ap.baseAddress!, bp.baseAddress!, into: $0.baseAddress!, count: 1000, pool: pool)
                }
                axpy.withUnsafeMutableBufferPointer {
                    Kernels.axpy(ap.baseAddress!, alpha: 0.5, accumulatingInto: $0.baseAddress!, count: 1000, pool: pool)
                }
            }
            #expect(abs(Kernels.sumOfSquares(ap.baseAddress!, count: 1000) - a.doubles.reduce(0) { $0 + $1 * $1 }) < 1e-3)
        }
        scaled.withUnsafeMutableBufferPointer { Kernels.scale($0.baseAddress!, by: -2, count: 1000, pool: pool) }
        Comparison.expectClose(sum, zip(a, b).map { Double($0) + Double($1) }, "add")
        Comparison.expectClose(axpy, zip(a, b).map { 0.5 * Double($0) + Double($1) }, "axpy")
        Comparison.expectClose(scaled, a.map { -2 * Double($0) }, "scale")
    }
}
