import Testing
import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraTensor

/// OLMoE's query/key norms on a projection `[tokens, (heads + 2·kvHeads)·headDim]` against a float64 reference:
/// RMSNorm over the query columns and, apart, over the key columns, values untouched; the backward pass against
/// central differences of the float64 `Σ dy·y`. Split over tp = 2 (each rank its heads' columns, the row sums
/// all-reduced), the same numbers; rank-local sums (no all-reduce) are caught.
@Suite struct QueryKeyNormTests {
    static let (tokens, queries, keys, values) = (3, 8, 8, 8)
    static let width = queries + keys + values
    static let epsilon: Float = 1e-5
    static let wq = values(queries, seed: 1, around: 1), wk = values(keys, seed: 2, around: 1)
    static let x = values(tokens * width, seed: 3), dy = values(tokens * width, seed: 4)

    /// Values drawn uniformly from `center ± 1`.
    static func values(_ count: Int, seed: UInt64, around center: Double = 0) -> [Double] {
        let random = DeterministicRandom(seed: seed, stream: "query-key-norm")
        return (0..<count).map { center + Double(random.uniform(at: $0) * 2 - 1) }
    }

    /// `y` of one token's projection row with norm weights `wq`, `wk`, in float64.
    static func reference(_ row: [Double], _ wq: [Double], _ wk: [Double]) -> [Double] {
        func norm(_ x: ArraySlice<Double>, _ w: [Double]) -> [Double] {
            let rstd = 1 / (x.reduce(0) { $0 + $1 * $1 } / Double(x.count) + Double(epsilon)).squareRoot()
            return zip(x, w).map { $0 * rstd * $1 }
        }
        return norm(row[0..<queries], wq) + norm(row[queries..<queries + keys], wk) + Array(row[(queries + keys)...])
    }

    /// `Σ dy·y` over every row, in float64.
    static func objective(_ x: [Double], _ wq: [Double], _ wk: [Double]) -> Double {
        (0..<tokens).reduce(0) { sum, t in
            let y = reference(Array(x[t * width..<(t + 1) * width]), wq, wk)
            return sum + zip(y, dy[t * width..<(t + 1) * width]).reduce(0) { $0 + $1.0 * $1.1 }
        }
    }

    /// The rank's share of each part of a projection row: columns `rank·n/parts ..< (rank+1)·n/parts` of the queries,
    /// keys and values.
    static func share(_ row: ArraySlice<Double>, rank: Int, parts: Int) -> [Double] {
        let blocks: [(start: Int, count: Int)] = [(0, queries), (queries, keys), (queries + keys, values)]
        var result: [Double] = []
        for block in blocks {
            let first = row.startIndex + block.start + rank * block.count / parts
            result += row[first..<first + block.count / parts]
        }
        return result
    }

    /// Forward and backward on `rank`'s share of the columns; returns the output, the projection gradient and the
    /// query and key weight gradients (all of the share).
    static func run(rank: Int, parts: Int, group: AxisGroup) throws -> (y: [Float], dx: [Float], dwq: [Float], dwk: [Float]) {
        let (q, k) = (queries / parts, keys / parts), stride = width / parts
        let specs = [ParameterSpec(name: "q", globalShape: [q], initialization: .constant(1)),
                     ParameterSpec(name: "k", globalShape: [k], initialization: .constant(1))]
        let store = ParameterStore(specs: specs, seed: 0)
        _ = store["q"]!.value.update(fromContentsOf: wq[rank * q..<(rank + 1) * q].map { Float($0) })
        _ = store["k"]!.value.update(fromContentsOf: wk[rank * k..<(rank + 1) * k].map { Float($0) })
        let norm = QueryKeyNorm(query: Normalization(kind: .rmsNorm, weight: store["q"]!, bias: nil, epsilon: epsilon),
                                key: Normalization(kind: .rmsNorm, weight: store["k"]!, bias: nil, epsilon: epsilon),
                                queryColumns: queries, keyColumns: keys, group: group)
        func local(_ values: [Double]) -> [Float] {
            (0..<tokens).flatMap { share(values[$0 * width..<($0 + 1) * width], rank: rank, parts: parts).map { Float($0) } }
        }
        let state = QueryKeyNorm.State()
        var y = local(x), dx = local(dy)
        try y.withUnsafeMutableBufferPointer { try norm.forward($0.baseAddress!, rowStride: stride, tokens: tokens, state: state) }
        try dx.withUnsafeMutableBufferPointer { try norm.backward($0.baseAddress!, rowStride: stride, tokens: tokens, state: state) }
        return (y, dx, Array(store["q"]!.gradient), Array(store["k"]!.gradient))
    }

    @Test func forwardAndBackwardMatchFloat64() throws {
        let (y, dx, dwq, dwk) = try Self.run(rank: 0, parts: 1, group: .single)
        let expected = (0..<Self.tokens).flatMap { Self.reference(Array(Self.x[$0 * Self.width..<($0 + 1) * Self.width]), Self.wq, Self.wk) }
        #expect(zip(y, expected).allSatisfy { abs(Double($0) - $1) <= 1e-5 * max(1, abs($1)) })
        let h = 1e-6
        func derivative(_ objective: (Double) -> Double) -> Double { (objective(h) - objective(-h)) / (2 * h) }
        func check(_ analytic: [Float], _ label: String, _ shifted: (Int, Double) -> Double) {
            for i in analytic.indices {
                let numeric = derivative { shifted(i, $0) }
                #expect(abs(Double(analytic[i]) - numeric) <= 1e-4 * max(1, abs(numeric)), "\(label) \(i)")
            }
        }
        check(dx, "projection") { i, step in var x = Self.x; x[i] += step; return Self.objective(x, Self.wq, Self.wk) }
        check(dwq, "q weight") { i, step in var w = Self.wq; w[i] += step; return Self.objective(Self.x, w, Self.wk) }
        check(dwk, "k weight") { i, step in var w = Self.wk; w[i] += step; return Self.objective(Self.x, Self.wq, w) }
    }

    /// tp = 2: each rank's share equals the same columns of one rank's results; without the all-reduce it does not.
    @Test func tensorParallelSharesMatchOneRank() throws {
        let whole = try Self.run(rank: 0, parts: 1, group: .single)
        func shares(_ values: [Float], _ width: Int, rank: Int) -> [Float] {
            (0..<values.count / width).flatMap { t in
                Self.share(values[t * width..<(t + 1) * width].map(Double.init)[...], rank: rank, parts: 2).map { Float($0) }
            }
        }
        for allReduced in [true, false] {
            let results = try ThreadGroup.run(ranks: 2, deadline: .seconds(30)) { world in
                try Self.run(rank: world.rank, parts: 2, group: allReduced ? AxisGroup(world) : .single)
            }
            var worst: Float = 0
            for (rank, result) in results.enumerated() {
                let expected = shares(whole.y, Self.width, rank: rank) + shares(whole.dx, Self.width, rank: rank)
                    + Array(whole.dwq[rank * 4..<(rank + 1) * 4]) + Array(whole.dwk[rank * 4..<(rank + 1) * 4])
                let got = result.y + result.dx + result.dwq + result.dwk
                worst = max(worst, zip(got, expected).map { abs($0 - $1) }.max()!)
            }
            if allReduced { #expect(worst <= 1e-5) } else { #expect(worst > 1e-2, "rank-local sums must be caught") }
        }
    }
}
