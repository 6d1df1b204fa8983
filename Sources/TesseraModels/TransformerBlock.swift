import TesseraNN
import TesseraParallel
import TesseraTensor

/// One pre-norm transformer block: `h = x + attention(norm₁(x))`, `y = h + mlp(norm₂(h))`, on this
/// rank's rows `[localRows, hidden]` (all tokens, or `tokens / tp` with sequence parallelism); the MLP is dense or
/// a mixture of experts.
public final class TransformerBlock: @unchecked Sendable {
    /// The block's feed-forward part.
    public enum FeedForward: @unchecked Sendable {
        case dense(ParallelMLP)
        case experts(MixtureOfExpertsLayer)
    }

    /// What one micro-batch's backward needs. The block input is held apart from everything else the
    /// forward saved, so recomputation can keep only ``input`` and rebuild the rest.
    public final class State: @unchecked Sendable {
        /// The block input (owned by the previous block's state or the chunk state).
        public internal(set) var input: FloatBuffer?
        let normalized1 = FloatBuffer(count: 0)
        let statistics1 = FloatBuffer(count: 0)
        /// `x + attention(norm₁(x))`.
        let residual = FloatBuffer(count: 0)
        let normalized2 = FloatBuffer(count: 0)
        let statistics2 = FloatBuffer(count: 0)
        /// The block output, the next block's input.
        public let output = FloatBuffer(count: 0)
        public let attention: ParallelAttention.State
        public let mlp = ParallelMLP.State()
        /// The mixture-of-experts state (router statistics and decisions included), for expert blocks.
        public let experts = MixtureOfExpertsLayer.State()
        let residualGradient = FloatBuffer(count: 0)
        /// The gradient of the block input after ``TransformerBlock/backward(_:state:workspace:queue:mode:)``.
        public let inputGradient = FloatBuffer(count: 0)

        /// - Parameter attention: the attention state (one sharing a chunk-wide core under selective recomputation).
        public init(attention: ParallelAttention.State = ParallelAttention.State()) {
            self.attention = attention
        }

        /// Bytes the forward pass saved for the backward pass (the input is counted by its owner).
        public var savedBytes: Int {
            [normalized1, statistics1, residual, normalized2, statistics2, output].reduce(0) { $0 + $1.count * 4 }
                + attention.savedBytes + mlp.savedBytes + experts.savedBytes
        }
    }

    public let norm1: Normalization
    public let attention: ParallelAttention
    public let norm2: Normalization
    public let feedForward: FeedForward
    public let context: LayerContext

    public init(norm1: Normalization, attention: ParallelAttention, norm2: Normalization, feedForward: FeedForward, context: LayerContext) {
        self.norm1 = norm1
        self.attention = attention
        self.norm2 = norm2
        self.feedForward = feedForward
        self.context = context
    }

    private var hidden: Int { norm1.columns }

    /// Forward of `batch` sequences of `length` tokens; returns ``State/output``.
    @discardableResult
    public func forward(_ input: FloatBuffer, batch: Int, length: Int, state: State, workspace: Workspace) throws -> FloatBuffer {
        let sequences = SequenceRows(batch: batch, localLength: length, shard: state.attention.shard, context: context)
        return try forward(input, tokens: batch * length, sequences: sequences, state: state, workspace: workspace, rowStable: false) {
            try attention.forward($0, batch: batch, length: length, state: state.attention, workspace: workspace)
        }
    }

    /// Forward of a batched decoding step (every sequence's new rows stacked; keys and values kept in `pool` at
    /// `layer`, this rank's index of the block); returns ``State/output``, each row independent of the others.
    @discardableResult
    public func forward(_ input: FloatBuffer, batch: DecodeBatch, state: State, workspace: Workspace,
                        pool: KVBlockPool, layer: Int) throws -> FloatBuffer {
        try forward(input, tokens: batch.rows, sequences: SequenceRows(length: 1, batch: batch.rows), state: state, workspace: workspace,
                    rowStable: true) {
            try attention.forward($0, batch: batch, state: state.attention, workspace: workspace, pool: pool, layer: layer)
        }
    }

    /// The block around its attention, `attend` (normalized input → attention output `[localRows, hidden]`).
    /// `sequences` are the groups an expert router's capacity applies to: the micro-batch's sequences, or rows of 1
    /// for a decoding step's rows (each from its own sequence, so no row's routing depends on the others').
    private func forward(_ input: FloatBuffer, tokens: Int, sequences: SequenceRows, state: State, workspace: Workspace, rowStable: Bool,
                         attend: (UnsafeMutablePointer<Float>) throws -> UnsafeMutablePointer<Float>) throws -> FloatBuffer {
        let rows = context.localRows(tokens: tokens), count = rows * hidden
        state.input = input
        for buffer in [state.normalized1, state.residual, state.normalized2, state.output] { buffer.reserve(count) }
        state.statistics1.reserve(2 * rows)
        state.statistics2.reserve(2 * rows)
        let backend = context.backend
        norm1.forward(input.pointer, into: state.normalized1.pointer, statistics: state.statistics1.pointer, rows: rows, backend: backend)
        let a = try attend(state.normalized1.pointer)
        backend.add(input.pointer, a, into: state.residual.pointer, count: count)
        norm2.forward(state.residual.pointer, into: state.normalized2.pointer, statistics: state.statistics2.pointer, rows: rows, backend: backend)
        let m = switch feedForward {
        case let .dense(mlp):
            try mlp.forward(state.normalized2.pointer, tokens: tokens, state: state.mlp, workspace: workspace, rowStable: rowStable)
        case let .experts(moe):
            try moe.forward(state.normalized2.pointer, tokens: tokens, sequences: sequences, state: state.experts, workspace: workspace,
                            rowStable: rowStable)
        }
        backend.add(state.residual.pointer, m, into: state.output.pointer, count: count)
        return state.output
    }

    /// Backward from the output gradient `dy` `[localRows, hidden]`; returns ``State/inputGradient``.
    /// - Parameter routerLosses: what the model's router losses add to an expert block's router gradient.
    @discardableResult
    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, length: Int, state: State, workspace: Workspace,
                         queue: WeightGradientQueue, mode: BackwardMode, routerLosses: RouterLossGradient? = nil) throws -> FloatBuffer {
        guard let input = state.input else { preconditionFailure("backward before forward") }
        let tokens = batch * length, rows = context.localRows(tokens: tokens), count = rows * hidden
        state.residualGradient.reserve(count)
        state.inputGradient.reserve(count)
        let dResidual = state.residualGradient.pointer, dInput = state.inputGradient.pointer, backend = context.backend
        // Through the MLP branch: dh = dy + norm₂ᵀ(mlpᵀ(dy)).
        let dNormalized2 = switch feedForward {
        case let .dense(mlp):
            try mlp.backward(dy, input: state.normalized2.pointer, tokens: tokens, state: state.mlp, workspace: workspace, queue: queue, mode: mode)
        case let .experts(moe):
            try moe.backward(dy, input: state.normalized2.pointer, tokens: tokens,
                             losses: routerLosses ?? .none(experts: moe.router.configuration.experts), state: state.experts,
                             workspace: workspace, queue: queue, mode: mode)
        }
        norm2.backward(dNormalized2, x: state.residual.pointer, statistics: state.statistics2.pointer, into: dResidual, rows: rows,
                       backend: backend)
        backend.add(dResidual, dy, into: dResidual, count: count)
        // Through the attention branch: dx = dh + norm₁ᵀ(attentionᵀ(dh)).
        let dNormalized1 = try attention.backward(dResidual, input: state.normalized1.pointer, batch: batch, length: length,
                                                  state: state.attention, workspace: workspace, queue: queue, mode: mode)
        norm1.backward(dNormalized1, x: input.pointer, statistics: state.statistics1.pointer, into: dInput, rows: rows, backend: backend)
        backend.add(dInput, dResidual, into: dInput, count: count)
        return state.inputGradient
    }
}
