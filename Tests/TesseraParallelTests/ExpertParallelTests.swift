import Testing
import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraTensor

/// Expert parallelism on threads equals one device: ep ranks carved out of dp, each with its own tokens and
/// `experts / ep` experts, give the same outputs, input gradients, routing-weight gradients and (after the reduction
/// over the expert-data-parallel group) expert weight gradients as the single-device layer on all the tokens.
@Suite(.serialized) struct ExpertParallelTests {
    static let fixture = ExpertFixture(experts: 8)
    /// Tokens of the global batch, split over dp.
    static let globalTokens = 24

    /// A routing kind picks the experts of the global batch.
    enum Kind: String, CaseIterable { case random, unbalanced, oneExpert, someRanksEmpty }

    static func routing(_ kind: Kind, tokens: Int) throws -> ExpertRouting {
        switch kind {
        case .random: return try testRouting(tokens: tokens, topK: 2, experts: 8, seed: 21, dropEvery: 5)
        case .unbalanced: return try testRouting(tokens: tokens, topK: 2, experts: 8, seed: 22, choices: [0, 1, 2, 7])
        case .oneExpert: return try testRouting(tokens: tokens, topK: 1, experts: 8, seed: 23, choices: [5])
        case .someRanksEmpty:
            // Only experts 0 and 1 (ep rank 0's with ep ≥ 2): every other expert rank receives nothing.
            return try testRouting(tokens: tokens, topK: 2, experts: 8, seed: 24, choices: [0, 1])
        }
    }

    struct Outcome: Sendable {
        /// Expert weight gradients after the data-parallel reducer (over the expert-data-parallel group; ZeRO 0).
        var result: ExpertLayerTests.Result
        /// The global gradient norm and the parameters after one AdamW step.
        var norm: Float, values: [String: [Float]]
    }

    /// Runs the layer on `dp` ranks (each its rows of the global batch) with `ep` expert-parallel ranks, reduces the
    /// gradients and takes one optimizer step; returns each rank's outcome.
    static func run(dp: Int, ep: Int, kind: Kind, zeroStage: Int = 0, dispatchRotation: Int = 0,
                    expertNorm: Bool = true) throws -> [Outcome] {
        let tokens = globalTokens, tokensPerRank = tokens / dp, h = fixture.hidden
        let global = try routing(kind, tokens: tokens)
        let x = testValues(count: tokens * h, stream: "x"), dy = testValues(count: tokens * h, stream: "dy")
        return try ThreadGroup.run(ranks: dp, deadline: .seconds(60)) { world in
            let groups = try ProcessGroups(world: world, mesh: DeviceMesh(dp: dp, ep: ep))
            let context = LayerContext(groups: groups)
            let (store, layer) = try fixture.layer(context: context, dispatchRotation: dispatchRotation)
            let rank = groups.coordinate.dp, k = global.topK
            let slots = rank * tokensPerRank * k..<(rank + 1) * tokensPerRank * k
            let rows = rank * tokensPerRank * h..<(rank + 1) * tokensPerRank * h
            let local = try ExpertRouting(topK: k, experts: Array(global.experts[slots]), weights: Array(global.weights[slots]))
            var result = try ExpertLayerTests.run(layer, store: store, x: Array(x[rows]), dy: Array(dy[rows]), routing: local)
            let reducer = DataParallelReducer(store: store, group: groups.data, context: context, embedding: nil, deferred: [],
                                              zeroStage: zeroStage, bucketElements: 100)
            reducer.beginStep()
            try reducer.finish()
            if zeroStage == 0 {
                result.weightGradients = Dictionary(uniqueKeysWithValues: store.parameters.map { ($0.name, Array($0.gradient)) })
            }
            let optimizer = DistributedOptimizer(store: store, configuration: AdamWConfiguration(), reducer: reducer,
                                                 normGroup: zeroStage == 1 ? world : groups.modelParallel,
                                                 expertGroup: expertNorm ? groups.expert : nil)
            let norm = try optimizer.step(learningRate: 0.01, maxGradientNorm: nil)
            return Outcome(result: result, norm: norm,
                           values: Dictionary(uniqueKeysWithValues: store.parameters.map { ($0.name, Array($0.value)) }))
        }
    }

    /// The largest relative difference between the layout's results and the single device's on all the tokens.
    static func difference(dp: Int, ep: Int, kind: Kind, zeroStage: Int = 0, dispatchRotation: Int = 0,
                           expertNorm: Bool = true) throws -> Double {
        let single = try run(dp: 1, ep: 1, kind: kind)[0]
        let singleResult = single.result
        let outcomes = try run(dp: dp, ep: ep, kind: kind, zeroStage: zeroStage, dispatchRotation: dispatchRotation, expertNorm: expertNorm)
        let parts = outcomes.map(\.result)
        func worst(_ a: [Float], _ b: [Float]) -> Double {
            precondition(a.count == b.count)
            return worstRelativeError(a, b.map(Double.init))
        }
        var result = max(worst(parts.flatMap(\.y), singleResult.y), worst(parts.flatMap(\.dx), singleResult.dx),
                         worst(parts.flatMap(\.routingGradient), singleResult.routingGradient))
        for outcome in outcomes {
            #expect(outcome.result.tokensPerExpert == single.result.tokensPerExpert)
            #expect(outcome.values.count == 3 * fixture.experts / ep)
            result = max(result, Double(abs(outcome.norm - single.norm) / single.norm))
            for (name, values) in outcome.values { result = max(result, worst(values, single.values[name]!)) }
            guard zeroStage == 0 else { continue }
            for (name, gradient) in outcome.result.weightGradients {
                result = max(result, worst(gradient, single.result.weightGradients[name]!))
            }
        }
        return result
    }

    /// Outputs, input and routing-weight gradients, reduced expert weight gradients, the global gradient norm and the
    /// parameters after one AdamW step equal one device's, for random, unbalanced and empty-rank routings, with ZeRO 0
    /// and 1 (1e-5 relative: the grouped products run on other row counts).
    @Test(arguments: [(2, 2, 0), (4, 4, 0), (4, 2, 0), (4, 2, 1)], Kind.allCases)
    func expertParallelEqualsOneDevice(layout: (dp: Int, ep: Int, zeroStage: Int), kind: Kind) throws {
        #expect(try Self.difference(dp: layout.dp, ep: layout.ep, kind: kind, zeroStage: layout.zeroStage) < 1e-5)
    }

    /// Non-vacuity: tokens sent to the wrong expert rank fail the same comparison, and so does a gradient norm that
    /// leaves out the other ranks' experts.
    @Test(arguments: [(2, 2), (4, 4)]) func brokenDispatchIsCaught(layout: (dp: Int, ep: Int)) throws {
        #expect(try Self.difference(dp: layout.dp, ep: layout.ep, kind: .random, dispatchRotation: 1) > 1e-2)
        #expect(try Self.difference(dp: layout.dp, ep: layout.ep, kind: .random, expertNorm: false) > 1e-2)
    }
}
