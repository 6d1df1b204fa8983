import Foundation
import Testing
import TesseraTensor

@Suite struct EmbeddingRotaryTests {
    @Test(arguments: Fixtures.pools)
    func embeddingLookupAndGradient(pool: ComputePool) throws {
        let table = Fixtures.tensor([11, 20], stream: "emb.table")
        let ids: [Int32] = [3, 0, 10, 3, 7, 3]
        let out = try Tensor.embedding(ids: ids, table: table, pool: pool)
        #expect(out.shape == [6, 20])
        for (t, id) in ids.enumerated() {
            #expect(Array(out.scalars[t * 20..<(t + 1) * 20]) == Array(table.scalars[Int(id) * 20..<(Int(id) + 1) * 20]))
        }
        let dOut = Fixtures.tensor([6, 20], stream: "emb.dOut")
        let dTable = try Tensor.embeddingBackward(ids: ids, dOut, tableShape: [11, 20], pool: pool)
        let numerical = Comparison.numericalGradient(at: table.doubles) { t in
            Comparison.weightedSum(ids.flatMap { t[Int($0) * 20..<(Int($0) + 1) * 20] }, dOut.doubles)
        }
        Comparison.expectClose(dTable.scalars, numerical, "embedding backward")
    }

    /// Vocab parallelism: a rank holding ids 4..<8 of 11 returns zero rows for the others, and its
    /// gradient covers only its rows.
    @Test func vocabularySlice() throws {
        let full = Fixtures.tensor([11, 6], stream: "emb.slice")
        let slice = try Tensor(shape: [4, 6], scalars: Array(full.scalars[24..<48]))
        let ids: [Int32] = [5, 1, 7, 10]
        let out = try Tensor.embedding(ids: ids, table: slice, vocabularyStart: 4, vocabularySize: 11)
        #expect(Array(out.scalars[0..<6]) == Array(full.scalars[30..<36]))
        #expect(out.scalars[6..<12].allSatisfy { $0 == 0 } && out.scalars[18..<24].allSatisfy { $0 == 0 })
        let dTable = try Tensor.embeddingBackward(
            ids: ids, Tensor(shape: [4, 6], repeating: 1), tableShape: [4, 6], vocabularyStart: 4, vocabularySize: 11)
        #expect(dTable.scalars == [Float](repeating: 0, count: 6) + [Float](repeating: 1, count: 6)
                + [Float](repeating: 0, count: 6) + [Float](repeating: 1, count: 6))
    }

    /// The rotate-half convention against float64, with angles from Float32 `position · inv_freq` as
    /// transformers computes them; the cached table and on-the-fly angles agree; the inverse undoes it.
    @Test(arguments: [0, 64])
    func rotaryMatchesTheRotateHalfConvention(cachedPositions: Int) throws {
        let heads = 3, headDim = 16, half = 8
        let rotary = RotaryEmbedding(headDim: headDim, theta: 10_000, cachedPositions: cachedPositions)
        let positions: [Int32] = [0, 1, 5, 63, 64, 1000]
        let x = Fixtures.tensor([positions.count, heads * headDim], stream: "rope.x")
        let y = try rotary.apply(to: x, heads: heads, positions: positions)
        let xs = x.doubles
        var expected = xs
        for (t, position) in positions.enumerated() {
            for h in 0..<heads {
                for i in 0..<half {
                    let frequency = 1 / Float(pow(10_000.0, Double(2 * i) / Double(headDim)))
                    let angle = Double(Float(position) * frequency)
                    let base = t * heads * headDim + h * headDim
                    let x1 = xs[base + i], x2 = xs[base + i + half]
                    expected[base + i] = x1 * cos(angle) - x2 * sin(angle)
                    expected[base + i + half] = x2 * cos(angle) + x1 * sin(angle)
                }
            }
        }
        Comparison.expectClose(y.scalars, expected, "rotary")
        let back = try rotary.apply(to: y, heads: heads, positions: positions, inverse: true)
        Comparison.expectClose(back.scalars, x.doubles, "rotary inverse")
    }
}
