import Testing
import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraTensor

/// Experts with tensor parallelism (`--expert-tp 1|tp`), alone and with expert parallelism, equal one device: each
/// rank's rows of the outputs and gradients, and each rank's slice of every reduced expert weight gradient.
@Suite(.serialized) struct ExpertLayerTensorParallelTests {
    struct Layout: Sendable, CustomTestStringConvertible {
        var tp: Int, dp: Int, ep: Int, sequenceParallel: Bool, experts: ExpertTensorParallelism
        var testDescription: String { "tp=\(tp) dp=\(dp) ep=\(ep)\(sequenceParallel ? " sp" : "") \(experts)" }
    }

    /// One rank's share: its global token rows, its results, and its gradients at their global positions.
    struct Share: Sendable {
        var tokens: Range<Int>, result: ExpertLayerTests.Result, gradients: [String: [(Int, Float)]]
    }

    /// - Parameter gathers: `false` builds the layer without sequence parallelism while the ranks still hold sequence
    ///   shards: split experts that forget to gather the tp group's rows (non-vacuity only).
    static func run(_ layout: Layout, mappings: MappingTable = .megatron, gathers: Bool = true) throws -> [Share] {
        let fixture = ExpertParallelTests.fixture, h = fixture.hidden, total = ExpertParallelTests.globalTokens
        let global = try ExpertParallelTests.routing(.random, tokens: total)
        let x = testValues(count: total * h, stream: "x"), dy = testValues(count: total * h, stream: "dy")
        return try ThreadGroup.run(ranks: layout.tp * layout.dp, deadline: .seconds(60)) { world in
            let groups = try ProcessGroups(world: world, mesh: DeviceMesh(tp: layout.tp, dp: layout.dp, ep: layout.ep))
            let context = LayerContext(groups: groups, sequenceParallel: layout.sequenceParallel && gathers, mappings: mappings)
            let (store, layer) = try fixture.layer(context: context, tensorParallelism: layout.experts)
            var share = total / layout.dp, first = groups.coordinate.dp * share
            if layout.sequenceParallel {
                share /= layout.tp
                first += groups.coordinate.tp * share
            }
            let k = global.topK, tokens = first..<first + share
            let routing = try ExpertRouting(topK: k, experts: Array(global.experts[first * k..<(first + share) * k]),
                                            weights: Array(global.weights[first * k..<(first + share) * k]))
            let result = try ExpertLayerTests.run(layer, store: store, x: Array(x[first * h..<(first + share) * h]),
                                                  dy: Array(dy[first * h..<(first + share) * h]), routing: routing)
            let reducer = DataParallelReducer(store: store, group: groups.data, context: context, embedding: nil, deferred: [],
                                              zeroStage: 0, bucketElements: 100)
            reducer.beginStep()
            try reducer.finish()
            var gradients: [String: [(Int, Float)]] = [:]
            for parameter in store.parameters {
                parameter.spec.sharding.forEachRun(globalShape: parameter.spec.globalShape) { local, global, count in
                    gradients[parameter.name, default: []] += (0..<count).map { (global + $0, parameter.gradient[local + $0]) }
                }
            }
            return Share(tokens: tokens, result: result, gradients: gradients)
        }
    }

    /// The largest relative difference from one device.
    static func difference(_ layout: Layout, mappings: MappingTable = .megatron, gathers: Bool = true) throws -> Double {
        let single = try run(Layout(tp: 1, dp: 1, ep: 1, sequenceParallel: false, experts: .whole))[0].result
        let h = ExpertParallelTests.fixture.hidden, k = 2
        var worst = 0.0
        for share in try run(layout, mappings: mappings, gathers: gathers) {
            let rows = share.tokens.lowerBound * h..<share.tokens.upperBound * h
            worst = max(worst, worstRelativeError(share.result.y, single.y[rows].map(Double.init)),
                        worstRelativeError(share.result.dx, single.dx[rows].map(Double.init)),
                        worstRelativeError(share.result.routingGradient,
                                           single.routingGradient[share.tokens.lowerBound * k..<share.tokens.upperBound * k].map(Double.init)))
            for (name, pairs) in share.gradients {
                let whole = single.weightGradients[name]!
                worst = max(worst, worstRelativeError(pairs.map(\.1), pairs.map { Double(whole[$0.0]) }))
            }
        }
        return worst
    }

    static let layouts = [
        Layout(tp: 2, dp: 1, ep: 1, sequenceParallel: false, experts: .whole),
        Layout(tp: 2, dp: 1, ep: 1, sequenceParallel: false, experts: .split),
        Layout(tp: 2, dp: 1, ep: 1, sequenceParallel: true, experts: .whole),
        Layout(tp: 2, dp: 2, ep: 2, sequenceParallel: false, experts: .split),
        Layout(tp: 2, dp: 2, ep: 2, sequenceParallel: true, experts: .whole),
        Layout(tp: 2, dp: 1, ep: 1, sequenceParallel: true, experts: .split),
        Layout(tp: 2, dp: 2, ep: 2, sequenceParallel: true, experts: .split),
    ]

    @Test(arguments: layouts) func expertsWithTensorParallelismEqualOneDevice(layout: Layout) throws {
        #expect(try Self.difference(layout) < 1e-5)
    }

    /// The global tokens per expert (what `bench moe` prints) equal one device's on every rank, sequence parallelism
    /// included: with whole experts each tp rank routes only its own rows, so the counts are summed over tp as well.
    @Test(arguments: [layouts[2], layouts[4], layouts[6]]) func globalTokenCountsEqualOneDevice(layout: Layout) throws {
        let single = try Self.run(Layout(tp: 1, dp: 1, ep: 1, sequenceParallel: false, experts: .whole))[0].result.tokensPerExpert
        #expect(single.count == 8 && single.reduce(0, +) > 0)
        #expect(try Self.run(layout).allSatisfy { $0.result.tokensPerExpert == single })
    }

    /// Non-vacuity: split experts without the sum over tp after the combine fail the same comparison.
    @Test func missingTensorParallelSumIsCaught() throws {
        var mappings = MappingTable.megatron
        mappings.reduceFromTensorRegion = .identity
        #expect(try Self.difference(Self.layouts[1], mappings: mappings) > 1e-2)
    }

    /// Non-vacuity: split experts under sequence parallelism that run each rank's own rows (no gather over tp, the
    /// partial outputs all-reduced as without sequence parallelism) fail the same comparison.
    @Test func splitExpertsThatDoNotGatherTheSequenceShardsAreCaught() throws {
        #expect(try Self.difference(Self.layouts[5], gathers: false) > 1e-2)
    }

    @Test func splitExpertsNeedDivisibleFeatures() throws {
        let errors = try ThreadGroup.run(ranks: 4, deadline: .seconds(30)) { world -> [String] in
            let groups = try ProcessGroups(world: world, mesh: DeviceMesh(tp: 4))
            do { _ = try ExpertFixture().layer(context: LayerContext(groups: groups), tensorParallelism: .split) } catch { return ["\(error)"] }
            return []
        }
        #expect(errors[0] == ["\(ExpertError.intermediateNotDivisible(intermediate: 6, tp: 4))"])
        #expect(errors[0][0].contains("tp ∈ {1, 2, 3, 6}"))
    }
}
