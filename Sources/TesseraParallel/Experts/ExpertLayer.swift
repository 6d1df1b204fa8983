import TesseraNN
import TesseraTensor

/// How a mixture-of-experts layer's experts relate to the tensor-parallel group (`--expert-tp 1|tp`).
public enum ExpertTensorParallelism: String, Sendable, Hashable, Codable, CaseIterable {
    /// `--expert-tp 1`: every tp rank holds its experts whole and computes them on its own rows (the same rows as its
    /// tp peers, or its sequence shard with sequence parallelism); no tp communication.
    case whole
    /// `--expert-tp tp`: each expert's intermediate features are split over tp (column-parallel gate and up,
    /// row-parallel down); the partial outputs are summed over tp after the combine.
    case split

    /// The setting `--expert-tp` names: `1` (or `whole`) or `tp` (or `split`).
    /// - Throws: ``ParallelConfigError/invalidOption(option:value:valid:)`` naming the two.
    public init(named name: String) throws {
        switch name {
        case "1", Self.whole.rawValue: self = .whole
        case "tp", Self.split.rawValue: self = .split
        default:
            throw ParallelConfigError.invalidOption(option: LayoutParameter.expertTensorParallelism.name, value: name,
                                                    valid: "1 (whole experts on every tp rank) or tp (each expert's features split over tp)")
        }
    }
}

/// One expert's SwiGLU weights, Hugging Face `outputMajor` layout: `down(silu(gate x) · up x)`.
public struct ExpertWeights: @unchecked Sendable {
    /// `[intermediate, hidden]` (`[intermediate / tp, hidden]` when split).
    public let gate: Parameter
    /// `[intermediate, hidden]` (`[intermediate / tp, hidden]` when split).
    public let up: Parameter
    /// `[hidden, intermediate]` (`[hidden, intermediate / tp]` when split).
    public let down: Parameter

    public init(gate: Parameter, up: Parameter, down: Parameter) {
        self.gate = gate
        self.up = up
        self.down = down
    }
}

/// The experts of a mixture-of-experts layer on one rank, with expert parallelism: `y[t] = Σ_k w[t, k] ·
/// Expert_{e[t, k]}(x[t])` for an ``ExpertRouting`` of the local tokens.
///
/// This rank holds experts ``localExperts`` (`experts / ep` consecutive ids, block ``LayerContext/ep``'s rank). The
/// forward pass groups the routed slots by expert (``ExpertPermutation``), sends each rank's rows to the rank holding
/// their expert (``ExpertExchange``, one all-to-all with per-rank counts), runs every local expert on its contiguous
/// rows with grouped products (``ComputeBackend/groupedMatmul(_:lda:rows:_:transposeB:ldb:into:ldc:n:k:beta:)``),
/// sends the outputs back and combines them with the routing weights. The backward pass is the mirror. With ep = 1
/// nothing is communicated. A rank that routes or receives no rows, and an expert that gets none, are ordinary cases.
///
/// Split experts (``ExpertTensorParallelism/split``) with sequence parallelism first all-gather the tp group's rows
/// and routings (each tp rank routed its own sequence shard), run the whole group's rows on this rank's share of every
/// expert's features, and reduce-scatter the partial outputs back onto the shards (Megatron-Core gathers over tp after
/// its all-to-all instead; the sums are the same). Backward: `dy` is all-gathered and the input gradient
/// reduce-scattered; the routing-weight gradient is summed over tp and this rank's rows kept.
///
/// Expert weight gradients accumulate into the parameters' gradients; they are complete for this rank's tokens and
/// must be summed over the expert-data-parallel group (``LayerContext/expertData``), which ``ParameterSpec/isExpert``
/// tells gradient reduction.
public struct ExpertLayer: @unchecked Sendable {
    /// What one micro-batch's backward pass needs, and the layer's statistics of that micro-batch.
    public final class State: @unchecked Sendable {
        /// The routing of the last forward pass.
        public internal(set) var routing: ExpertRouting?
        /// This rank's routed tokens per global expert in the last forward pass (`[experts]`; dropped slots excluded;
        /// the tp group's with split experts under sequence parallelism).
        public internal(set) var tokensPerExpert: [Int] = []
        var permutation: ExpertPermutation?
        var exchange: ExpertExchange?
        /// Each dispatched row's combine weight.
        let dispatchWeights = FloatBuffer(count: 0)
        /// `[received, hidden]`, expert-major: the local experts' input.
        let expertInput = FloatBuffer(count: 0)
        /// `[received, 2 · intermediate]`: gate then up projections.
        let gateUp = FloatBuffer(count: 0)
        /// `[received, intermediate]`: the SwiGLU output, input of the down projections.
        let activated = FloatBuffer(count: 0)
        /// `[dispatched, hidden]`: the experts' outputs back on this rank, in dispatch order.
        let returned = FloatBuffer(count: 0)
        let outputGradient = FloatBuffer(count: 0)
        let activatedGradient = FloatBuffer(count: 0)
        let gateUpGradient = FloatBuffer(count: 0)
        /// Split experts under sequence parallelism: the tp group's rows gathered (the input forward, `dy` backward).
        let sequenceRows = FloatBuffer(count: 0)

        public init() {}

        /// Bytes saved by the forward pass for the backward pass.
        public var savedBytes: Int { [dispatchWeights, expertInput, gateUp, activated, returned].reduce(0) { $0 + $1.count * 4 } }
        /// Bytes of every buffer held.
        public var byteCount: Int {
            [dispatchWeights, expertInput, gateUp, activated, returned, outputGradient, activatedGradient, gateUpGradient, sequenceRows]
                .reduce(0) { $0 + $1.byteCount }
        }
    }

    /// The gradients ``backward(_:state:workspace:queue:mode:)`` returns.
    public struct Gradients {
        /// `[tokens, hidden]`, in the workspace: valid until the next layer call.
        public let input: UnsafeMutablePointer<Float>
        /// `[tokens, topK]`: the gradient with respect to the routing's combine weights (0 for dropped slots).
        public let routingWeights: [Float]
    }

    /// This rank's experts, in global id order.
    public let experts: [ExpertWeights]
    /// Experts of the whole layer (over every expert-parallel rank).
    public let totalExperts: Int
    public let tensorParallelism: ExpertTensorParallelism
    public let context: LayerContext
    public let hidden: Int
    /// Intermediate features of each local expert on this rank (`intermediate / tp` when split).
    public let intermediate: Int
    /// 0 in every real use. Tests set 1 to send every row to the next expert-parallel rank instead of its expert's,
    /// and show that the equivalence tests catch a broken dispatch.
    let dispatchRotation: Int

    /// - Parameters:
    ///   - experts: the weights of this rank's `totalExperts / ep` experts, in global id order.
    /// - Throws: ``ExpertError/expertsNotDivisible(experts:ep:valid:)``, ``ExpertError/wrongExpertCount(given:expected:)``.
    public init(experts: [ExpertWeights], totalExperts: Int, tensorParallelism: ExpertTensorParallelism = .whole,
                context: LayerContext, dispatchRotation: Int = 0) throws {
        let local = try Self.localExperts(totalExperts: totalExperts, context: context)
        guard experts.count == local.count else { throw ExpertError.wrongExpertCount(given: experts.count, expected: local.count) }
        self.experts = experts
        self.totalExperts = totalExperts
        self.tensorParallelism = tensorParallelism
        self.context = context
        self.hidden = experts.first?.gate.spec.localShape[1] ?? 0
        self.intermediate = experts.first?.gate.spec.localShape[0] ?? 0
        self.dispatchRotation = dispatchRotation
    }

    /// The global ids of this rank's experts.
    public var localExperts: Range<Int> { context.ep.rank * experts.count..<(context.ep.rank + 1) * experts.count }

    var isSplit: Bool { tensorParallelism == .split && context.tp.size > 1 }

    /// Whether the layer gathers the tp group's rows first: split experts under sequence parallelism.
    var gathersSequence: Bool { isSplit && context.sequenceParallel }

    /// Forward on this rank's `tokens` rows `x` (`[tokens, hidden]`) routed by `routing`; returns `y` `[tokens, hidden]`
    /// in `workspace`. Communicates over ep (all-to-all) and, with split experts, over tp (all-reduce; under sequence
    /// parallelism all-gathers and a reduce-scatter). `overlapping` runs while the combine's all-to-all is in flight
    /// (``ExpertExchange/fromExperts(_:columns:scratch:into:backend:overlapping:)``); it must not use `workspace`'s buffers.
    /// - Parameter rowStable: every output row computed the same way whatever the rows of the other tokens routed to
    ///   the same experts (batched decoding); otherwise grouped products.
    /// - Throws: ``ExpertError`` for a routing that does not fit; ``CollectiveError`` when a peer fails.
    public func forward(_ x: UnsafePointer<Float>, tokens: Int, routing: ExpertRouting, state: State,
                        workspace: Workspace, rowStable: Bool = false, overlapping: (() throws -> Void)? = nil) throws -> UnsafeMutablePointer<Float> {
        try routing.validate(tokens: tokens, experts: totalExperts)
        let (x, tokens, routing) = gathersSequence ? try gatheredOverTensorParallel(x, tokens: tokens, routing: routing, into: state.sequenceRows)
            : (x, tokens, routing)
        let h = hidden, backend = context.backend
        let permutation = ExpertPermutation(ids: dispatchIds(routing.experts), topK: routing.topK, experts: totalExperts)
        state.routing = routing
        state.permutation = permutation
        state.tokensPerExpert = dispatchRotation == 0 ? permutation.rowsPerExpert
            : ExpertPermutation(ids: routing.experts, topK: routing.topK, experts: totalExperts).rowsPerExpert
        let rows = permutation.rows
        state.dispatchWeights.reserve(rows)
        backend.gatherRows(routing.weights, indices: permutation.slots, scales: nil, into: state.dispatchWeights.pointer, rows: rows, columns: 1)

        let dispatched = context.ep.size == 1 ? state.expertInput : workspace.gathered
        dispatched.reserve(rows * h)
        backend.gatherRows(x, indices: permutation.tokenOfRow, scales: nil, into: dispatched.pointer, rows: rows, columns: h)
        let exchange = try ExpertExchange(dispatching: dispatched.pointer, rowsPerExpert: permutation.rowsPerExpert, columns: h, group: context.ep,
                                          scratch: workspace.partial, into: state.expertInput, backend: backend)
        state.exchange = exchange

        let output = exchange.isLocal ? state.returned : workspace.gradient
        output.reserve(exchange.receivedRows * h)
        computeExperts(state: state, rows: exchange.rowsPerLocalExpert, into: output.pointer, rowStable: rowStable)
        _ = try exchange.fromExperts(output.pointer, columns: h, scratch: workspace.partial, into: state.returned, backend: backend,
                                     overlapping: overlapping)

        workspace.reduced.reserve(tokens * h)
        backend.combineRows(state.returned.pointer, sources: permutation.rowOfSlot, weights: routing.weights, into: workspace.reduced.pointer,
                            tokens: tokens, topK: routing.topK, columns: h)
        guard isSplit else { return workspace.reduced.pointer }
        let sum = gathersSequence ? context.mappings.reduceScatterToSequenceRegion : context.mappings.reduceFromTensorRegion
        return try sum.forward(workspace.reduced.pointer, rows: tokens, columns: h, scratch: workspace.partial, in: context)
    }

    /// Backward from `dy` `[tokens, hidden]` for the forward pass recorded in `state`: returns the input gradient and
    /// the routing-weight gradient, and submits the expert weight gradients to `queue` (run now for `.full`).
    /// `overlapping` runs while the last all-to-all is in flight, as in ``forward(_:tokens:routing:state:workspace:overlapping:)``.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func backward(_ dy: UnsafePointer<Float>, state: State, workspace: Workspace, queue: WeightGradientQueue,
                         mode: BackwardMode, overlapping: (() throws -> Void)? = nil) throws -> Gradients {
        guard let routing = state.routing, let permutation = state.permutation, let exchange = state.exchange else {
            fatalError("ExpertLayer.backward without a forward pass on this state")
        }
        let h = hidden, tokens = routing.tokens, k = routing.topK, backend = context.backend
        let dy = gathersSequence ? UnsafePointer(try context.mappings.reduceScatterToSequenceRegion.backward(
            UnsafeMutablePointer(mutating: dy), rows: tokens / context.tp.size, columns: h, scratch: state.sequenceRows, in: context)) : dy
        var weightGradient = [Float](repeating: 0, count: tokens * k)
        backend.combineWeightGradient(dy, state.returned.pointer, sources: permutation.rowOfSlot, into: &weightGradient,
                                      tokens: tokens, topK: k, columns: h)
        // With split experts `returned` holds this rank's partial outputs: their products with dy add up over tp.
        if isSplit { try weightGradient.withUnsafeMutableBufferPointer { try context.tp.allReduce($0, operation: .sum) } }
        if gathersSequence { weightGradient = ownRows(of: weightGradient, tokens: tokens, columns: k) }

        let rows = permutation.rows
        let dispatched = exchange.isLocal ? state.outputGradient : workspace.gathered
        dispatched.reserve(rows * h)
        backend.gatherRows(dy, indices: permutation.tokenOfRow, scales: state.dispatchWeights.pointer, into: dispatched.pointer,
                           rows: rows, columns: h)
        _ = try exchange.toExperts(dispatched.pointer, columns: h, scratch: workspace.partial, into: state.outputGradient, backend: backend)

        workspace.gradient.reserve(exchange.receivedRows * h)
        backwardExperts(state: state, rows: exchange.rowsPerLocalExpert, into: workspace.gradient.pointer, queue: queue, mode: mode)
        let back = try exchange.fromExperts(workspace.gradient.pointer, columns: h, scratch: workspace.partial, into: workspace.gathered,
                                            backend: backend, overlapping: overlapping)

        workspace.reduced.reserve(tokens * h)
        backend.combineRows(back, sources: permutation.rowOfSlot, weights: nil, into: workspace.reduced.pointer, tokens: tokens, topK: k, columns: h)
        guard isSplit else { return Gradients(input: workspace.reduced.pointer, routingWeights: weightGradient) }
        let sum = gathersSequence ? context.mappings.gatherFromSequenceRegion : context.mappings.copyToTensorRegion
        let input = try sum.backward(workspace.reduced.pointer, rows: tokens, columns: h, scratch: workspace.partial, in: context)
        return Gradients(input: input, routingWeights: weightGradient)
    }

    /// The tokens each global expert received in `state`'s forward pass, summed over the data- and context-parallel
    /// ranks (``LayerContext/dataContext``, which every expert-parallel group lies in) and, where sequence parallelism
    /// leaves each tp rank its own rows (whole experts; split experts gather the tp group's rows first), over tp: the
    /// micro-batch's global counts. Every rank of those groups must call it.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func globalTokensPerExpert(_ state: State) throws -> [Int] {
        var counts = state.tokensPerExpert.map(Float.init)
        try counts.withUnsafeMutableBufferPointer { counts in
            try context.dataContext.allReduce(counts, operation: .sum)
            if context.sequenceParallel && !gathersSequence && context.tp.size > 1 { try context.tp.allReduce(counts, operation: .sum) }
        }
        return counts.map { Int($0) }
    }

    /// The expert ids the dispatch uses: the routing's own, or (``dispatchRotation``, tests only) those of the same
    /// local expert on another rank.
    private func dispatchIds(_ ids: [Int32]) -> [Int32] {
        guard dispatchRotation != 0 else { return ids }
        let perRank = Int32(experts.count), ranks = Int32(context.ep.size), shift = Int32(dispatchRotation)
        return ids.map { $0 < 0 ? $0 : ((($0 / perRank) + shift) % ranks) * perRank + $0 % perRank }
    }
}
