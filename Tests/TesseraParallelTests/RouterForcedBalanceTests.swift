import Foundation
import Testing
import TesseraCollectives
import TesseraNN
import TesseraParallel

/// Forced load balance (``RouterConfiguration/forcesLoadBalance``, a benchmark's option): every expert gets exactly the
/// same tokens, the combine weights are the chosen experts' scores as the float64 reference computes them, the choice
/// follows each token's position in its sequence on every split of the sequences, and decoding refuses it.
struct RouterForcedBalanceTests {
    /// `configuration` with forced balance on.
    static func forced(_ configuration: RouterConfiguration) -> RouterConfiguration {
        var forced = configuration
        forced.forcesLoadBalance = true
        return forced
    }

    /// How many assignments each expert got.
    static func counts(_ routing: Routing, experts: Int) -> [Int] {
        routing.experts.reduce(into: [Int](repeating: 0, count: experts)) { $0[Int($1)] += 1 }
    }

    /// Softmax renormalized top-2 of 4 experts, sigmoid top-3 of 6 unnormalized: 3 sequences of 6 tokens each give
    /// every expert `18 · k / experts` assignments, a token's experts are distinct, and its weights are the float64
    /// scores of the forced experts (renormalized when configured). The learned router on the same input does not
    /// balance (so the count check can fail).
    @Test(arguments: [
        RouterConfiguration(experts: 4, topK: 2, normalizesTopK: true, includesAuxiliaryLoss: true),
        RouterConfiguration(experts: 6, topK: 3, scoring: .sigmoid, normalizesTopK: false, zLossCoefficient: 0.1),
    ])
    func everyExpertGetsTheSameTokens(_ configuration: RouterConfiguration) throws {
        let length = 6, batch = 3, tokens = length * batch, e = configuration.experts, k = configuration.topK
        let layer = RouterTests.Case(Self.forced(configuration), seed: 5, tokens: tokens)
        let learned = RouterTests.Case(configuration, seed: 5, tokens: tokens)
        let sequences = SequenceRows(length: length, batch: batch)
        let (routing, unforced) = try layer.x.withUnsafeBufferPointer {
            (try layer.router.forward($0.baseAddress!, tokens: tokens, sequences: sequences, state: Router.State()),
             try learned.router.forward($0.baseAddress!, tokens: tokens, sequences: sequences, state: Router.State()))
        }
        #expect(Self.counts(routing, experts: e) == [Int](repeating: tokens * k / e, count: e))
        #expect(Self.counts(unforced, experts: e) != [Int](repeating: tokens * k / e, count: e), "the learned router must not balance here")
        let reference = RouterTests.Reference(weight: layer.store["router"]!.value.map(Double.init), x: layer.x.map(Double.init),
                                              configuration: configuration, tokens: tokens, length: length)
        let h = RouterTests.hidden, weight = layer.store["router"]!.value.map(Double.init)
        for t in 0..<tokens {
            let chosen = (0..<k).map { Int(routing.experts[t * k + $0]) }
            #expect(Set(chosen).count == k)
            #expect(routing.selected[t * k..<(t + 1) * k].map(Int.init) == chosen)
            let scores = chosen.map { i -> Double in
                let logit = (0..<h).reduce(0.0) { $0 + Double(layer.x[t * h + $1]) * weight[i * h + $1] }
                return configuration.scoring == .softmax ? reference.probabilities[t][i] : 1 / (1 + Foundation.exp(-logit))
            }
            let total = scores.reduce(0, +)
            for j in 0..<k {
                let expected = configuration.normalizesTopK ? scores[j] / total : scores[j]
                #expect(abs(Double(routing.weights[t * k + j]) - expected) < 1e-6)
            }
        }
    }

    /// Context parallelism's zig-zag shards (cp 2 of 8-token sequences, 8 experts, top-2): each rank's forced experts
    /// are those one device gives the same micro-batch rows. Numbering the rank's own rows instead (torchtitan's rule,
    /// `RoutingMath.forcedExperts(position: local row)`) gives rank 1 other experts: the wrong variant is caught.
    @Test func theChoiceFollowsThePositionInTheSequenceOnEveryShard() throws {
        let configuration = Self.forced(RouterConfiguration(experts: 8, topK: 2, normalizesTopK: true))
        let length = 8, batch = 2, k = 2, h = RouterTests.hidden
        let whole = RouterTests.Case(configuration, seed: 3, tokens: length * batch)
        let single = try whole.x.withUnsafeBufferPointer {
            try whole.router.forward($0.baseAddress!, tokens: length * batch, sequences: SequenceRows(length: length, batch: batch),
                                     state: Router.State())
        }
        var localNumberingDiffers = false
        for rank in 0..<2 {
            let shard = try ContextShard(length: length, ranks: 2, rank: rank)
            let sequences = SequenceRows(batch: batch, localLength: shard.localLength, shard: shard, context: .single)
            let rows = sequences.microBatchRows()
            let x = rows.flatMap { whole.x[$0 * h..<($0 + 1) * h] }
            let routing = try x.withUnsafeBufferPointer {
                try whole.router.forward($0.baseAddress!, tokens: rows.count, sequences: sequences, state: Router.State())
            }
            #expect(routing.experts == rows.flatMap { single.experts[$0 * k..<($0 + 1) * k] })
            var local = [Int32](repeating: 0, count: rows.count * k)
            for t in rows.indices { local.withUnsafeMutableBufferPointer { RoutingMath.forcedExperts(position: t, k: k, experts: 8, into: $0.baseAddress! + t * k) } }
            localNumberingDiffers = localNumberingDiffers || local != routing.experts
        }
        #expect(localNumberingDiffers)
    }

    /// A decoding step's rows are refused (forced experts would ignore the router and give meaningless text), with the fix.
    @Test func decodingIsRefused() throws {
        let configuration = Self.forced(RouterConfiguration(experts: 4, topK: 2, normalizesTopK: true))
        let layer = RouterTests.Case(configuration, seed: 1, tokens: 2)
        #expect(throws: ExpertError.forcedBalanceInDecoding) {
            try layer.x.withUnsafeBufferPointer {
                try layer.router.forward($0.baseAddress!, tokens: 2, sequences: SequenceRows(length: 1, batch: 2), state: Router.State(),
                                         rowStable: true)
            }
        }
        #expect("\(ExpertError.forcedBalanceInDecoding)".contains("turn RouterConfiguration.forcesLoadBalance off"))
    }
}
