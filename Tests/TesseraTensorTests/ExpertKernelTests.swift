import Testing
import TesseraTensor

/// The mixture-of-experts kernels against float64 definitions.
@Suite struct ExpertKernelTests {
    /// Groups of 3, 0 (an expert without tokens), 5 and 1 rows, each with its own weight; both weight layouts,
    /// overwriting and accumulating. Non-vacuity: the weights of two groups swapped are caught.
    @Test(arguments: [false, true], [Float(0), 1]) func groupedMatmulIsOneProductPerGroup(transposeB: Bool, beta: Float) {
        let rows = [3, 0, 5, 1], m = rows.reduce(0, +), n = 6, k = 7
        let a = Fixtures.values(m * k, stream: "ga"), c0 = Fixtures.values(m * n, stream: "gc")
        let weights = rows.indices.map { Fixtures.values(k * n, stream: "gw\($0)") }
        var c = c0
        let storage = weights.map { w in
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: w.count)
            pointer.initialize(from: w, count: w.count)
            return pointer
        }
        defer { storage.forEach { $0.deallocate() } }
        CPUBackend.serial.groupedMatmul(a, lda: k, rows: rows, storage.map { UnsafePointer($0) }, transposeB: transposeB, ldb: transposeB ? k : n,
                                        into: &c, ldc: n, n: n, k: k, beta: beta)
        func expected(_ order: [Int]) -> [Double] {
            var result: [Double] = [], first = 0
            for (group, count) in rows.enumerated() {
                let block = a[first * k..<(first + count) * k].map(Double.init)
                let product = Reference.matmul(block, weights[order[group]].map(Double.init), m: count, n: n, k: k, transposeA: false,
                                               transposeB: transposeB)
                result += product.indices.map { product[$0] + Double(beta) * Double(c0[first * n + $0]) }
                first += count
            }
            return result
        }
        #expect(Comparison.isClose(c, expected([0, 1, 2, 3])))
        #expect(!Comparison.isClose(c, expected([0, 1, 3, 2])))
    }

    @Test func gatherRowsCopiesOrScalesIndexedRows() {
        let x = Fixtures.values(4 * 3, stream: "rx")
        var y = [Float](repeating: 9, count: 3 * 3)
        CPUBackend.serial.gatherRows(x, indices: [2, 0, 2], scales: nil, into: &y, rows: 3, columns: 3)
        #expect(y == Array(x[6..<9] + x[0..<3] + x[6..<9]))
        CPUBackend.serial.gatherRows(x, indices: [3, 1, 0], scales: [2, 0.5, -1], into: &y, rows: 3, columns: 3)
        let expected = x[9..<12].map { 2 * Double($0) } + x[3..<6].map { 0.5 * Double($0) } + x[0..<3].map { -Double($0) }
        #expect(Comparison.isClose(y, expected))
    }

    /// Combine and its weight gradient, with a dropped slot (-1) and a token whose every slot was dropped.
    @Test func combineRowsAndItsWeightGradient() {
        let columns = 5, topK = 2, tokens = 3
        let x = Fixtures.values(4 * columns, stream: "cx"), dy = Fixtures.values(tokens * columns, stream: "cdy")
        let sources: [Int32] = [1, 3, -1, 0, -1, -1], weights: [Float] = [0.25, 0.75, 0.5, 2, 1, 1]
        var y = [Float](repeating: 7, count: tokens * columns), dWeights = [Float](repeating: 7, count: tokens * topK)
        CPUBackend.serial.combineRows(x, sources: sources, weights: weights, into: &y, tokens: tokens, topK: topK, columns: columns)
        CPUBackend.serial.combineWeightGradient(dy, x, sources: sources, into: &dWeights, tokens: tokens, topK: topK, columns: columns)
        var expected = [Double](repeating: 0, count: tokens * columns), expectedWeights = [Double](repeating: 0, count: tokens * topK)
        for slot in sources.indices where sources[slot] >= 0 {
            let t = slot / topK, source = Int(sources[slot])
            for c in 0..<columns {
                expected[t * columns + c] += Double(weights[slot]) * Double(x[source * columns + c])
                expectedWeights[slot] += Double(dy[t * columns + c]) * Double(x[source * columns + c])
            }
        }
        #expect(Comparison.isClose(y, expected))
        #expect(Comparison.isClose(dWeights, expectedWeights))
        #expect(y[10..<15].allSatisfy { $0 == 0 } && dWeights[4...].allSatisfy { $0 == 0 })
        var unweighted = y
        CPUBackend.serial.combineRows(x, sources: sources, weights: nil, into: &unweighted, tokens: tokens, topK: topK, columns: columns)
        #expect(Comparison.isClose(unweighted, (0..<columns).map { Double(x[columns + $0]) + Double(x[3 * columns + $0]) }
            + (0..<columns).map { Double(x[$0]) } + Array(repeating: 0, count: columns)))
    }
}
