import Testing
import TesseraTensor

@Suite struct NormalizationTests {
    @Test(arguments: Fixtures.pools, [64, 70])
    func layerNormForwardAndBackward(pool: ComputePool, columns: Int) throws {
        let rows = 21
        // An offset mean checks that the variance does not cancel.
        let x = Fixtures.tensor([rows, columns], stream: "ln.x", scale: 2, offset: 5)
        let weight = Fixtures.tensor([columns], stream: "ln.w", offset: 1), bias = Fixtures.tensor([columns], stream: "ln.b")
        let dy = Fixtures.tensor([rows, columns], stream: "ln.dy")
        let (y, mean, rstd) = try x.layerNorm(weight: weight, bias: bias, epsilon: 1e-5, pool: pool)
        let reference = { (x: [Double], w: [Double], b: [Double]) in Reference.layerNorm(x, weight: w, bias: b, epsilon: 1e-5) }
        Comparison.expectClose(y.scalars, reference(x.doubles, weight.doubles, bias.doubles), "layerNorm")

        try expectLayerNormBackward(dy, x: x, weight: weight, bias: bias, mean: mean, rstd: rstd, pool: pool)
        #expect(try x.layerNorm(weight: weight, bias: bias).output == y)
    }

    @Test(arguments: Fixtures.pools, [64, 70])
    func rmsNormForwardAndBackward(pool: ComputePool, columns: Int) throws {
        let rows = 21
        let x = Fixtures.tensor([rows, columns], stream: "rms.x", scale: 2, offset: 1)
        let weight = Fixtures.tensor([columns], stream: "rms.w", offset: 1)
        let dy = Fixtures.tensor([rows, columns], stream: "rms.dy")
        try expectRMSNorm(x, weight: weight, dy: dy, pool: pool)
    }

    /// Weight gradients sum many rows in blocks; over 600 rows the sum must stay accurate and
    /// independent of the pool.
    @Test func weightGradientsOverManyRows() throws {
        let rows = 600, columns = 48
        let x = Fixtures.tensor([rows, columns], stream: "many.x"), dy = Fixtures.tensor([rows, columns], stream: "many.dy")
        let weight = Fixtures.tensor([columns], stream: "many.w"), bias = Fixtures.tensor([columns], stream: "many.b")
        let (_, mean, rstd) = try x.layerNorm(weight: weight, bias: bias)
        let serial = try Tensor.layerNormBackward(dy, x: x, weight: weight, mean: mean, rstd: rstd)
        let parallel = try Tensor.layerNormBackward(dy, x: x, weight: weight, mean: mean, rstd: rstd, pool: Fixtures.pools[1])
        #expect(serial.dWeight == parallel.dWeight && serial.dBias == parallel.dBias && serial.dx == parallel.dx)
        var expected = [Double](repeating: 0, count: columns)
        let normalized = Reference.layerNorm(x.doubles, weight: .init(repeating: 1, count: columns),
                                             bias: .init(repeating: 0, count: columns), epsilon: 1e-5)
        let dys = dy.doubles
        for i in 0..<rows * columns { expected[i % columns] += dys[i] * normalized[i] }
        Comparison.expectClose(serial.dWeight.scalars, expected, "dWeight over 600 rows")
    }
}

/// LayerNorm's backward pass of `dy` on `pool`: dx, dWeight and dBias against finite differences of the float64
/// reference (ε = 1e-5), and the same bits as the serial pool's.
func expectLayerNormBackward(_ dy: Tensor, x: Tensor, weight: Tensor, bias: Tensor, mean: Tensor, rstd: Tensor,
                             pool: ComputePool) throws {
    let reference = { (x: [Double], w: [Double], b: [Double]) in Reference.layerNorm(x, weight: w, bias: b, epsilon: 1e-5) }
    let (dx, dWeight, dBias) = try Tensor.layerNormBackward(dy, x: x, weight: weight, mean: mean, rstd: rstd, pool: pool)
    let loss = { (x: [Double], w: [Double], b: [Double]) in Comparison.weightedSum(reference(x, w, b), dy.doubles) }
    Comparison.expectClose(dx.scalars, Comparison.numericalGradient(at: x.doubles) { loss($0, weight.doubles, bias.doubles) }, "layerNorm dx")
    Comparison.expectClose(dWeight.scalars, Comparison.numericalGradient(at: weight.doubles) { loss(x.doubles, $0, bias.doubles) }, "layerNorm dWeight")
    Comparison.expectClose(dBias.scalars, Comparison.numericalGradient(at: bias.doubles) { loss(x.doubles, weight.doubles, $0) }, "layerNorm dBias")
    let serial = try Tensor.layerNormBackward(dy, x: x, weight: weight, mean: mean, rstd: rstd)
    #expect(serial.dx == dx && serial.dWeight == dWeight && serial.dBias == dBias, "the pool changed the bits")
}

/// RMSNorm (ε = 1e-6) of `x` on `pool` against the float64 reference, in place and into a new tensor; its backward
/// pass of `dy` (dx, dWeight) against finite differences, with the same bits as the serial pool's.
func expectRMSNorm(_ x: Tensor, weight: Tensor, dy: Tensor, pool: ComputePool) throws {
    let (rows, columns) = (x.shape[0], x.shape[1])
    let (y, rstd) = try x.rmsNorm(weight: weight, epsilon: 1e-6, pool: pool)
    let reference = { (x: [Double], w: [Double]) in Reference.rmsNorm(x, weight: w, epsilon: 1e-6) }
    Comparison.expectClose(y.scalars, reference(x.doubles, weight.doubles), "rmsNorm")
    var inPlace = x, inPlaceRstd = rstd
    inPlace.withUnsafeMutableBufferPointer { p in
        weight.withUnsafeBufferPointer { w in
            inPlaceRstd.withUnsafeMutableBufferPointer { s in
                Kernels.rmsNorm(p.baseAddress!, weight: w.baseAddress!, into: p.baseAddress!, rstd: s.baseAddress!,
                                rows: rows, columns: columns, epsilon: 1e-6, pool: pool)
            }
        }
    }
    #expect(inPlace == y && inPlaceRstd == rstd, "rmsNorm in place differs")

    let (dx, dWeight) = try Tensor.rmsNormBackward(dy, x: x, weight: weight, rstd: rstd, pool: pool)
    let loss = { (x: [Double], w: [Double]) in Comparison.weightedSum(reference(x, w), dy.doubles) }
    Comparison.expectClose(dx.scalars, Comparison.numericalGradient(at: x.doubles) { loss($0, weight.doubles) }, "rmsNorm dx")
    Comparison.expectClose(dWeight.scalars, Comparison.numericalGradient(at: weight.doubles) { loss(x.doubles, $0) }, "rmsNorm dWeight")
    let serial = try Tensor.rmsNormBackward(dy, x: x, weight: weight, rstd: rstd)
    #expect(serial.dx == dx && serial.dWeight == dWeight, "the pool changed the bits")
}
