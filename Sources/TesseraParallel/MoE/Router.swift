import Foundation
import TesseraNN
import TesseraTensor

/// A mixture-of-experts router on one rank: `logits = x · Wᵀ` with `W` `[experts, hidden]` in fp32, scores
/// (softmax or sigmoid), top-k with optional renormalization, capacity drops, and this rank's statistics of the
/// load-balancing and z-losses (a model sums every layer's over the data group, dp × cp, which holds every
/// expert-parallel rank: ``RouterStatistics/summed(_:over:)``, so that the losses and their gradients are those of the
/// whole micro-batch whatever the layout).
///
/// Without sequence parallelism every rank of the tensor-parallel group routes the same tokens with the same
/// (replicated) weight, so each computes the whole weight gradient itself; with it each routes its own sequence
/// shard and the weight gradient is a partial sum over tp (the model's parameter spec says so).
public struct Router: @unchecked Sendable {
    /// What one micro-batch's backward needs.
    public final class State: @unchecked Sendable {
        /// `[tokens, experts]` softmax probabilities (what the load-balancing loss averages).
        public let probabilities = FloatBuffer(count: 0)
        /// `[tokens, experts]` sigmoid scores (sigmoid scoring only; softmax scores are the probabilities).
        let sigmoidScores = FloatBuffer(count: 0)
        /// `[tokens]` log-sum-exp of each token's logits (the z-loss).
        let logSumExp = FloatBuffer(count: 0)
        let logitGradient = FloatBuffer(count: 0)
        /// The decisions of the last forward pass.
        public internal(set) var routing = Routing(tokens: 0, topK: 0)
        /// This rank's statistics of the last forward pass.
        public internal(set) var statistics = RouterStatistics(experts: 0)

        public init() {}

        /// Bytes saved by the forward pass for the backward pass.
        public var savedBytes: Int { (probabilities.count + sigmoidScores.count + logSumExp.count) * 4 + routing.tokens * routing.topK * 12 }
    }

    /// `[experts, hidden]`, replicated.
    public let weight: Parameter
    public let configuration: RouterConfiguration
    public let context: LayerContext
    private let products: LinearProducts

    public init(weight: Parameter, configuration: RouterConfiguration, hidden: Int, context: LayerContext) {
        precondition(weight.count == configuration.experts * hidden, "router weight \(weight.name) is not [\(configuration.experts), \(hidden)]")
        self.weight = weight
        self.configuration = configuration
        self.context = context
        products = LinearProducts(layout: .outputMajor, inFeatures: hidden, outFeatures: configuration.experts)
    }

    private var experts: Int { configuration.experts }

    /// Routes this rank's `tokens` rows `x` `[tokens, hidden]`, which lie in the micro-batch's sequences as `sequences`
    /// says; a capacity counts whole sequences (``dropBeyondCapacity(_:sequences:score:)``). Keeps this rank's
    /// statistics in `state`. With ``RouterConfiguration/forcesLoadBalance`` the experts follow each row's position in
    /// its sequence instead of the scores.
    /// - Throws: ``CollectiveError`` when a peer fails (only a capacity over split sequences communicates);
    ///   ``ExpertError/forcedBalanceInDecoding`` for forced balance on a decoding step's rows (`rowStable`).
    @discardableResult
    public func forward(_ x: UnsafePointer<Float>, tokens: Int, sequences: SequenceRows, state: State, rowStable: Bool = false) throws -> Routing {
        var positions: [Int]?
        if configuration.forcesLoadBalance {
            guard !rowStable else { throw ExpertError.forcedBalanceInDecoding }
            positions = sequences.microBatchRows().map { $0 % sequences.length }
        }
        return try route(x, tokens: tokens, state: state, rowStable: rowStable, forcedPositions: positions) { routing, score in
            try dropBeyondCapacity(&routing, sequences: sequences, score: score)
        }
    }

    /// Logits, scores, top-k (or, given `forcedPositions`, the forced experts of those positions) and the combine
    /// weights of `tokens` rows, then `drop` (the capacity) and the statistics.
    private func route(_ x: UnsafePointer<Float>, tokens: Int, state: State, rowStable: Bool, forcedPositions: [Int]?,
                       drop: (inout Routing, (Int, Int) -> Float) throws -> Void) rethrows -> Routing {
        let e = experts, k = configuration.topK, sigmoid = configuration.scoring == .sigmoid
        state.probabilities.reserve(tokens * e)
        state.sigmoidScores.reserve(sigmoid ? tokens * e : 0)
        state.logSumExp.reserve(tokens)
        let logits = state.logitGradient
        logits.reserve(tokens * e)
        products.forward(x, ldx: products.inFeatures, weight: weight.value.baseAddress!, bias: nil, into: logits.pointer, ldy: e,
                         rows: tokens, backend: context.backend, rowStable: rowStable)
        var routing = Routing(tokens: tokens, topK: k)
        let scores = sigmoid ? state.sigmoidScores.pointer : state.probabilities.pointer
        routing.selected.withUnsafeMutableBufferPointer { selected in
            for t in 0..<tokens {
                let row = logits.pointer + t * e
                state.logSumExp.pointer[t] = RoutingMath.softmax(row, into: state.probabilities.pointer + t * e, experts: e)
                if sigmoid { for i in 0..<e { scores[t * e + i] = 1 / (1 + exp(-row[i])) } }
                if let forcedPositions {
                    RoutingMath.forcedExperts(position: forcedPositions[t], k: k, experts: e, into: selected.baseAddress! + t * k)
                } else {
                    RoutingMath.topK(scores + t * e, experts: e, k: k, into: selected.baseAddress! + t * k)
                }
            }
        }
        for t in 0..<tokens {
            var sum: Float = 0
            for j in 0..<k { sum += scores[t * e + Int(routing.selected[t * k + j])] }
            for j in 0..<k {
                let s = scores[t * e + Int(routing.selected[t * k + j])]
                routing.weights[t * k + j] = configuration.normalizesTopK ? s / sum : s
            }
        }
        routing.experts = routing.selected
        let selected = routing.selected
        try drop(&routing) { t, j in scores[t * e + Int(selected[t * k + j])] }
        state.routing = routing
        state.statistics = RouterStatistics(routing: routing, probabilities: state.probabilities.pointer, logSumExp: state.logSumExp.pointer,
                                            experts: e)
        return routing
    }

    /// Backward from the combine-weight gradient `weightGradient` `[tokens, topK]` and the auxiliary losses'
    /// coefficients; accumulates the weight gradient (now or, for `.inputOnly`, in `queue`) and writes (or adds
    /// to, when `accumulate`) the input gradient `dx` `[tokens, hidden]`.
    public func backward(_ weightGradient: UnsafePointer<Float>, input x: UnsafePointer<Float>, losses: RouterLossGradient, state: State,
                         into dx: UnsafeMutablePointer<Float>, accumulate: Bool, queue: WeightGradientQueue, mode: BackwardMode) {
        let routing = state.routing, tokens = routing.tokens, e = experts, k = routing.topK
        let sigmoid = configuration.scoring == .sigmoid
        let dz = state.logitGradient
        dz.reserve(tokens * e)
        var chosen = [Float](repeating: 0, count: k), chosenGradient = [Float](repeating: 0, count: k)
        var probabilityGradient = [Float](repeating: 0, count: e)
        for t in 0..<tokens {
            let p = state.probabilities.pointer + t * e, row = dz.pointer + t * e
            let scores = sigmoid ? state.sigmoidScores.pointer + t * e : p
            for j in 0..<k { chosen[j] = scores[Int(routing.selected[t * k + j])] }
            RoutingMath.chosenScoreGradient(weightGradient + t * k, kept: { routing.experts[t * k + $0] >= 0 }, chosenScores: chosen,
                                            k: k, normalizes: configuration.normalizesTopK, into: &chosenGradient)
            for i in 0..<e {
                row[i] = losses.zScale * state.logSumExp.pointer[t] * p[i]
                probabilityGradient[i] = losses.perExpert[i]
            }
            for j in 0..<k {
                let expert = Int(routing.selected[t * k + j])
                if sigmoid {
                    row[expert] += chosenGradient[j] * scores[expert] * (1 - scores[expert])
                } else {
                    probabilityGradient[expert] += chosenGradient[j]
                }
            }
            RoutingMath.softmaxBackward(probabilityGradient, probabilities: p, experts: e, accumulatingInto: row)
        }
        queue.submit(products.weightGradient(x: x, ldx: products.inFeatures, dy: dz.pointer, ldy: e, into: weight.gradient.baseAddress!,
                                             rows: tokens, backend: context.backend), mode: mode)
        products.inputGradient(dz.pointer, ldy: e, weight: weight.value.baseAddress!, into: dx, ldx: products.inFeatures, rows: tokens,
                               accumulate: accumulate, backend: context.backend)
    }
}
