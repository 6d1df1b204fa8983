import Foundation
import Testing
import TesseraTensor

/// LayerNorm, RMSNorm and softmax take each row's first pass (its sums or maximum) inside the previous row's
/// last pass. These tests give every row its own scale and offset, so a row that used a neighbour's statistics
/// would be far off; widths that are not multiples of 16 (and a softmax wider than its 1024-element sum
/// blocks) exercise the partial vectors of the fused loops, and the split pool starts pipelines mid-tensor.
@Suite struct RowPipelineTests {
    static let rows = 6

    /// Row `r` of `[rows, columns]` noise scaled by `1 + r/2` and shifted by `offsets(r)`.
    static func rowVaried(columns: Int, stream: String, offset: (Int) -> Float) -> Tensor {
        let noise = Fixtures.values(rows * columns, stream: stream)
        let scalars = noise.indices.map { i in offset(i / columns) + (1 + Float(i / columns) / 2) * noise[i] }
        return try! Tensor(shape: [rows, columns], scalars: scalars)
    }

    /// Large logits of alternating sign: row maxima differ by hundreds, so the exponentials of a row
    /// shifted by a neighbour's maximum overflow or flush to zero.
    static func softmaxInput(columns: Int) -> Tensor {
        rowVaried(columns: columns, stream: "pipeline.softmax.\(columns)") { r in (r % 2 == 0 ? 1 : -1) * 300 * Float(r + 1) }
    }

    @Test(arguments: Fixtures.pools, [1, 17, 1100, 2085])
    func softmaxRowsKeepTheirOwnMaxima(pool: ComputePool, columns: Int) throws {
        let x = Self.softmaxInput(columns: columns)
        let y = try x.softmax(pool: pool)
        let expected = Reference.rows(x.doubles, columns: columns, Reference.softmax)
        Comparison.expectClose(y.scalars, expected, "softmax of rows with their own offsets")
        #expect(try x.softmax() == y, "the pool changed the bits")

        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer { p in
            Kernels.softmax(p.baseAddress!, into: p.baseAddress!, rows: Self.rows, columns: columns, pool: pool)
        }
        #expect(inPlace == y, "softmax in place differs from softmax into a new tensor")

        let dy = Fixtures.tensor([Self.rows, columns], stream: "pipeline.softmax.dy")
        let dx = try Tensor.softmaxBackward(y, dy, pool: pool)
        let yd = y.doubles, dyd = dy.doubles
        let closedForm = (0..<Self.rows).flatMap { r -> [Double] in
            let row = r * columns..<(r + 1) * columns
            let dot = row.reduce(0) { $0 + yd[$1] * dyd[$1] }
            return row.map { yd[$0] * (dyd[$0] - dot) }
        }
        Comparison.expectClose(dx.scalars, closedForm, "softmax backward")
    }

    /// The check above can fail: shifting each row by its neighbour's maximum gives infinities or zeros.
    @Test func aNeighboursMaximumIsCaught() {
        let columns = 17
        let x = Self.softmaxInput(columns: columns).doubles
        let maxima = (0..<Self.rows).map { r in x[r * columns..<(r + 1) * columns].max()! }
        let wrong = (0..<Self.rows).flatMap { r -> [Float] in
            let shift = maxima[(r + 1) % Self.rows]
            let e = x[r * columns..<(r + 1) * columns].map { Float(exp($0 - shift)) }
            let sum = e.reduce(0, +)
            return e.map { $0 / sum }
        }
        #expect(!Comparison.isClose(wrong, Reference.rows(x, columns: columns, Reference.softmax)))
    }

    @Test(arguments: Fixtures.pools, [1, 17, 33])
    func layerNormRowsKeepTheirOwnStatistics(pool: ComputePool, columns: Int) throws {
        let x = Self.rowVaried(columns: columns, stream: "pipeline.ln.\(columns)") { r in 3 * Float(r) - 7 }
        let weight = Fixtures.tensor([columns], stream: "pipeline.ln.w", offset: 1)
        let bias = Fixtures.tensor([columns], stream: "pipeline.ln.b")
        let dy = Fixtures.tensor([Self.rows, columns], stream: "pipeline.ln.dy")
        let (y, mean, rstd) = try x.layerNorm(weight: weight, bias: bias, pool: pool)
        let reference = { (x: [Double], w: [Double], b: [Double]) in Reference.layerNorm(x, weight: w, bias: b, epsilon: 1e-5) }
        Comparison.expectClose(y.scalars, reference(x.doubles, weight.doubles, bias.doubles), "layerNorm of rows with their own statistics")

        var inPlace = x, inPlaceMean = mean, inPlaceRstd = rstd
        inPlace.withUnsafeMutableBufferPointer { p in
            weight.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    inPlaceMean.withUnsafeMutableBufferPointer { m in
                        inPlaceRstd.withUnsafeMutableBufferPointer { s in
                            Kernels.layerNorm(p.baseAddress!, weight: w.baseAddress!, bias: b.baseAddress!, into: p.baseAddress!,
                                              mean: m.baseAddress!, rstd: s.baseAddress!, rows: Self.rows, columns: columns,
                                              epsilon: 1e-5, pool: pool)
                        }
                    }
                }
            }
        }
        #expect(inPlace == y && inPlaceMean == mean && inPlaceRstd == rstd, "layerNorm in place differs")

        try expectLayerNormBackward(dy, x: x, weight: weight, bias: bias, mean: mean, rstd: rstd, pool: pool)
    }

    /// From 2 columns: with one, dx = dy·w·rstd·ε/(x² + ε) is a float32 cancellation far below the tolerance.
    @Test(arguments: Fixtures.pools, [2, 17, 33])
    func rmsNormRowsKeepTheirOwnStatistics(pool: ComputePool, columns: Int) throws {
        let x = Self.rowVaried(columns: columns, stream: "pipeline.rms.\(columns)") { r in 2 * Float(r) - 5 }
        let weight = Fixtures.tensor([columns], stream: "pipeline.rms.w", offset: 1)
        let dy = Fixtures.tensor([Self.rows, columns], stream: "pipeline.rms.dy")
        try expectRMSNorm(x, weight: weight, dy: dy, pool: pool)
    }
}
