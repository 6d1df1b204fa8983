import Foundation
import TesseraNN
import TesseraTensor

/// A mixture-of-experts feed-forward block: the ``Router`` chooses each token's experts, the ``ExpertLayer`` runs
/// them (over the expert-parallel group), and, for Qwen2-MoE, an always-active shared expert (a tensor-parallel
/// ``ParallelMLP``) is added behind its sigmoid gate: `y = Σ_k w_k · Expert_k(x) + σ(x · g) · Shared(x)`.
///
/// Without sequence parallelism every rank of the tensor-parallel group holds all its tokens' rows and routes them
/// identically; the router and the shared-expert gate are replicated with complete gradients. With sequence
/// parallelism each tp rank routes its own `tokens / tp` rows, as Megatron-Core's all-to-all dispatcher does; whole
/// experts dispatch them as they are (the expert work is split over tp instead of repeated, and the expert weight
/// gradients are partial sums over tp), split experts gather the tp group's rows first (``ExpertLayer``). The router
/// and gate weight gradients are partial sums over tp (``GradientReduction/sumOverTensorParallel``); the router
/// statistics are then summed over tp as well as dp × cp, and a capacity gathers each sequence's routing
/// (``Router/forward(_:tokens:sequences:state:rowStable:)``). The shared expert gathers its input and reduce-scatters
/// its output like any sequence-parallel MLP.
public struct MixtureOfExpertsLayer: @unchecked Sendable {
    /// What one micro-batch's backward needs.
    public final class State: @unchecked Sendable {
        public let router = Router.State()
        public let experts = ExpertLayer.State()
        public let shared = ParallelMLP.State()
        /// `[localRows, hidden]` the shared expert's output before its gate.
        let sharedOutput = FloatBuffer(count: 0)
        /// `[localRows]` `σ(x · g)`.
        let sharedGate = FloatBuffer(count: 0)
        let output = FloatBuffer(count: 0)
        let scaledGradient = FloatBuffer(count: 0)
        let gateGradient = FloatBuffer(count: 0)
        let inputGradient = FloatBuffer(count: 0)

        public init() {}

        /// Bytes saved by the forward pass for the backward pass.
        public var savedBytes: Int {
            router.savedBytes + experts.savedBytes + shared.savedBytes + (sharedOutput.count + sharedGate.count) * 4
        }
    }

    /// The always-active expert and its gate weight `[1, hidden]`.
    public struct SharedExpert: @unchecked Sendable {
        public let mlp: ParallelMLP
        public let gate: Parameter

        public init(mlp: ParallelMLP, gate: Parameter) {
            self.mlp = mlp
            self.gate = gate
        }
    }

    public let router: Router
    public let experts: ExpertLayer
    public let shared: SharedExpert?
    public let context: LayerContext
    private let gateProducts: LinearProducts

    public init(router: Router, experts: ExpertLayer, shared: SharedExpert?, hidden: Int, context: LayerContext) {
        self.router = router
        self.experts = experts
        self.shared = shared
        self.context = context
        gateProducts = LinearProducts(layout: .outputMajor, inFeatures: hidden, outFeatures: 1)
    }

    private var hidden: Int { gateProducts.inFeatures }

    /// Forward of a micro-batch of `tokens` tokens: `x` is this rank's rows `[localRows, hidden]`
    /// (``LayerContext/localRows(tokens:)``), lying in the micro-batch's sequences as `sequences` says (the capacity
    /// groups); returns `[localRows, hidden]` owned by `state`.
    /// - Parameter rowStable: every row computed the same way whatever the other rows are (batched decoding).
    /// - Throws: ``CollectiveError`` when a peer fails; ``ExpertError`` for a routing the experts refuse.
    public func forward(_ x: UnsafeMutablePointer<Float>, tokens: Int, sequences: SequenceRows, state: State, workspace: Workspace,
                        rowStable: Bool = false) throws -> UnsafeMutablePointer<Float> {
        let rows = context.localRows(tokens: tokens), count = rows * hidden, backend = context.backend
        state.output.reserve(count)
        if let shared {
            let y = try shared.mlp.forward(x, tokens: tokens, state: state.shared, workspace: workspace, rowStable: rowStable)
            state.sharedOutput.reserve(count)
            backend.copy(y, into: state.sharedOutput.pointer, count: count)
            state.sharedGate.reserve(rows)
            gateProducts.forward(x, ldx: hidden, weight: shared.gate.value.baseAddress!, bias: nil, into: state.sharedGate.pointer, ldy: 1,
                                 rows: rows, backend: backend, rowStable: rowStable)
            for t in 0..<rows { state.sharedGate.pointer[t] = 1 / (1 + exp(-state.sharedGate.pointer[t])) }
        }
        let routing = try router.forward(x, tokens: rows, sequences: sequences, state: state.router, rowStable: rowStable)
        let expertRouting = try ExpertRouting(topK: routing.topK, experts: routing.experts, weights: routing.weights)
        let y = try experts.forward(x, tokens: rows, routing: expertRouting, state: state.experts, workspace: workspace, rowStable: rowStable)
        backend.copy(y, into: state.output.pointer, count: count)
        if shared != nil {
            for t in 0..<rows {
                backend.axpy(state.sharedOutput.pointer + t * hidden, alpha: state.sharedGate.pointer[t],
                             accumulatingInto: state.output.pointer + t * hidden, count: hidden)
            }
        }
        return state.output.pointer
    }

    /// Backward from `dy` `[localRows, hidden]` given the forward input `x`, with the auxiliary losses' coefficients;
    /// returns the input gradient `[localRows, hidden]` owned by `state`.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func backward(_ dy: UnsafeMutablePointer<Float>, input x: UnsafeMutablePointer<Float>, tokens: Int, losses: RouterLossGradient,
                         state: State, workspace: Workspace, queue: WeightGradientQueue, mode: BackwardMode) throws -> UnsafeMutablePointer<Float> {
        let rows = context.localRows(tokens: tokens), count = rows * hidden, backend = context.backend
        let dx = state.inputGradient
        dx.reserve(count)
        let gradients = try experts.backward(dy, state: state.experts, workspace: workspace, queue: queue, mode: mode)
        backend.copy(gradients.input, into: dx.pointer, count: count)
        router.backward(gradients.routingWeights, input: x, losses: losses, state: state.router, into: dx.pointer, accumulate: true,
                        queue: queue, mode: mode)
        guard let shared else { return dx.pointer }
        // y += σ(x·g) ⊙ s: ∂/∂s = σ · dy; ∂/∂(x·g) = Σ_h dy ⊙ s · σ(1 − σ).
        state.scaledGradient.reserve(count)
        state.gateGradient.reserve(rows)
        for t in 0..<rows {
            let gate = state.sharedGate.pointer[t], row = dy + t * hidden, output = state.sharedOutput.pointer + t * hidden
            var dot: Float = 0
            for h in 0..<hidden {
                state.scaledGradient.pointer[t * hidden + h] = gate * row[h]
                dot += row[h] * output[h]
            }
            state.gateGradient.pointer[t] = dot * gate * (1 - gate)
        }
        queue.submit(gateProducts.weightGradient(x: x, ldx: hidden, dy: state.gateGradient.pointer, ldy: 1, into: shared.gate.gradient.baseAddress!,
                                                 rows: rows, backend: backend), mode: mode)
        gateProducts.inputGradient(state.gateGradient.pointer, ldy: 1, weight: shared.gate.value.baseAddress!, into: dx.pointer, ldx: hidden,
                                   rows: rows, accumulate: true, backend: backend)
        let dShared = try shared.mlp.backward(state.scaledGradient.pointer, input: x, tokens: tokens, state: state.shared, workspace: workspace,
                                              queue: queue, mode: mode)
        backend.add(dx.pointer, dShared, into: dx.pointer, count: count)
        return dx.pointer
    }
}
