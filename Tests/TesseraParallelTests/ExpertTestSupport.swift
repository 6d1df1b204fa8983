import Foundation
import TesseraNN
import TesseraParallel
import TesseraTensor

/// A tiny mixture-of-experts layer for tests: its parameters on one rank and a float64 reference of the whole layer.
struct ExpertFixture {
    var experts = 4, hidden = 8, intermediate = 6
    var seed: UInt64 = 5

    static func name(_ expert: Int, _ projection: ExpertProjection) -> String { "experts.\(expert).\(projection.rawValue).weight" }

    /// This rank's store and layer.
    func layer(context: LayerContext = .single, tensorParallelism: ExpertTensorParallelism = .whole,
               dispatchRotation: Int = 0) throws -> (ParameterStore, ExpertLayer) {
        let specs = try ExpertLayer.parameterSpecs(totalExperts: experts, hidden: hidden, intermediate: intermediate,
                                                   tensorParallelism: tensorParallelism, context: context,
                                                   initialization: .normal(std: 0.4), name: Self.name)
        let store = ParameterStore(specs: specs, seed: seed)
        let weights = try ExpertLayer.weights(in: store, totalExperts: experts, context: context, name: Self.name)
        let layer = try ExpertLayer(experts: weights, totalExperts: experts, tensorParallelism: tensorParallelism, context: context,
                                    dispatchRotation: dispatchRotation)
        return (store, layer)
    }

    /// Every expert's weights in float64, `[expert][projection]`, from the single-device store.
    func referenceWeights() throws -> [[[Double]]] {
        let (store, _) = try layer()
        return (0..<experts).map { e in ExpertProjection.allCases.map { p in store[Self.name(e, p)]!.value.map(Double.init) } }
    }

    /// `y[t] = Σ_k w[t, k] · down(silu(gate x) · up x)` in float64.
    func reference(x: [Double], ids: [Int32], weights: [Double], topK: Int, parameters w: [[[Double]]]) -> [Double] {
        let h = hidden, f = intermediate, tokens = ids.count / topK
        var y = [Double](repeating: 0, count: tokens * h)
        for t in 0..<tokens {
            for slot in t * topK..<(t + 1) * topK where ids[slot] >= 0 {
                let e = Int(ids[slot])
                var activated = [Double](repeating: 0, count: f)
                for i in 0..<f {
                    var g = 0.0, u = 0.0
                    for j in 0..<h {
                        g += w[e][0][i * h + j] * x[t * h + j]
                        u += w[e][1][i * h + j] * x[t * h + j]
                    }
                    activated[i] = g / (1 + exp(-g)) * u
                }
                for j in 0..<h {
                    var sum = 0.0
                    for i in 0..<f { sum += w[e][2][j * f + i] * activated[i] }
                    y[t * h + j] += weights[slot] * sum
                }
            }
        }
        return y
    }
}

/// A reproducible routing: `topK` distinct experts per token drawn from `choices` (default every expert), every
/// `dropEvery`-th slot dropped (0: none), weights in (0, 1).
func testRouting(tokens: Int, topK: Int, experts: Int, seed: UInt64, choices: [Int32]? = nil, dropEvery: Int = 0) throws -> ExpertRouting {
    var state = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    func next() -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int(truncatingIfNeeded: state >> 33)
    }
    let pool = choices ?? (0..<Int32(experts)).map { $0 }
    var ids: [Int32] = [], weights: [Float] = []
    for t in 0..<tokens {
        var chosen: [Int32] = []
        while chosen.count < topK {
            let candidate = pool[next() % pool.count]
            if !chosen.contains(candidate) || pool.count < topK { chosen.append(candidate) }
        }
        for (k, id) in chosen.enumerated() {
            let slot = t * topK + k
            ids.append(dropEvery > 0 && slot % dropEvery == dropEvery - 1 ? ExpertRouting.dropped : id)
            weights.append(Float(next() % 1000 + 1) / 1001)
        }
    }
    return try ExpertRouting(topK: topK, experts: ids, weights: weights)
}

/// `count` reproducible normal values.
func testValues(count: Int, stream: String, std: Float = 1) -> [Float] {
    let buffer = FloatBuffer(count: count)
    DeterministicRandom(seed: 3, stream: stream).fillNormal(buffer.mutableElements, indices: 0..<count, std: std)
    return buffer.array
}

/// The largest `|a − b| / max(1, |b|)`.
func worstRelativeError(_ a: [Float], _ b: [Double]) -> Double {
    zip(a, b).reduce(0) { max($0, abs(Double($1.0) - $1.1) / max(1, abs($1.1))) }
}
