import Testing
import TesseraNN
import TesseraParallel
import TesseraTensor

/// OLMoE's query/key norms on a projection `[tokens, (heads + 2·kvHeads)·headDim]` against a float64 reference:
/// RMSNorm over the query columns and, apart, over the key columns, values untouched; the backward pass against the
/// float64 gradient of `Σ dy·y`, checked itself by finite differences.
@Suite struct QueryKeyNormTests {
    static let (tokens, queries, keys, values) = (3, 8, 4, 4)
    static let width = queries + keys + values
    static let epsilon: Float = 1e-5

    /// Values drawn uniformly from `center ± 1` (exactly representable in Float).
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
    static func objective(_ x: [Double], _ dy: [Double], _ wq: [Double], _ wk: [Double]) -> Double {
        (0..<tokens).reduce(0) { sum, t in
            let y = reference(Array(x[t * width..<(t + 1) * width]), wq, wk)
            return sum + zip(y, dy[t * width..<(t + 1) * width]).reduce(0) { $0 + $1.0 * $1.1 }
        }
    }

    @Test func forwardAndBackwardMatchFloat64() throws {
        let specs = [ParameterSpec(name: "q", globalShape: [Self.queries], initialization: .constant(1)),
                     ParameterSpec(name: "k", globalShape: [Self.keys], initialization: .constant(1))]
        let store = ParameterStore(specs: specs, seed: 0)
        let wq = Self.values(Self.queries, seed: 1, around: 1), wk = Self.values(Self.keys, seed: 2, around: 1)
        for (parameter, weights) in zip(store.parameters, [wq, wk]) { _ = parameter.value.update(fromContentsOf: weights.map { Float($0) }) }
        let norm = QueryKeyNorm(query: Normalization(kind: .rmsNorm, weight: store["q"]!, bias: nil, epsilon: Self.epsilon),
                                key: Normalization(kind: .rmsNorm, weight: store["k"]!, bias: nil, epsilon: Self.epsilon))
        let x = Self.values(Self.tokens * Self.width, seed: 3), dy = Self.values(Self.tokens * Self.width, seed: 4)
        let state = QueryKeyNorm.State()
        var projection = x.map { Float($0) }
        projection.withUnsafeMutableBufferPointer {
            norm.forward($0.baseAddress!, rowStride: Self.width, tokens: Self.tokens, state: state, backend: CPUBackend.serial)
        }
        let expected = (0..<Self.tokens).flatMap { Self.reference(Array(x[$0 * Self.width..<($0 + 1) * Self.width]), wq, wk) }
        #expect(zip(projection, expected).allSatisfy { abs(Double($0) - $1) <= 1e-5 * max(1, abs($1)) })

        var gradient = dy.map { Float($0) }
        gradient.withUnsafeMutableBufferPointer {
            norm.backward($0.baseAddress!, rowStride: Self.width, tokens: Self.tokens, state: state, backend: CPUBackend.serial)
        }
        // Central differences of the float64 objective, for the projection and both weights.
        let h = 1e-6
        func derivative(_ perturb: (Double) -> Double) -> Double { (perturb(h) - perturb(-h)) / (2 * h) }
        for i in x.indices {
            let numeric = derivative { step in var shifted = x; shifted[i] += step; return Self.objective(shifted, dy, wq, wk) }
            #expect(abs(Double(gradient[i]) - numeric) <= 1e-4 * max(1, abs(numeric)), "projection \(i)")
        }
        for (parameter, weights) in zip(store.parameters, [wq, wk]) {
            for i in weights.indices {
                let numeric = derivative { step in
                    var shifted = weights
                    shifted[i] += step
                    return parameter.name == "q" ? Self.objective(x, dy, shifted, wk) : Self.objective(x, dy, wq, shifted)
                }
                #expect(abs(Double(parameter.gradient[i]) - numeric) <= 1e-4 * max(1, abs(numeric)), "\(parameter.name) \(i)")
            }
        }
    }
}
