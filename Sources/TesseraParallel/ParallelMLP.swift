import TesseraNN
import TesseraTensor

/// The activation between the two projections of a transformer MLP.
public enum MLPActivation: String, Sendable, Hashable, Codable {
    /// GPT-2: `c_fc → gelu (tanh approximation) → c_proj`.
    case gelu
    /// Llama: `silu(gate_proj x) · up_proj x → down_proj`.
    case swiglu
}

/// A transformer MLP split over the tensor-parallel group: column-parallel up projection(s), the
/// activation on this rank's share of the intermediate features (`intermediate / tp`, or a balanced share when
/// tp does not divide them), and a row-parallel down projection.
public struct ParallelMLP: @unchecked Sendable {
    /// What one micro-batch's backward needs.
    public final class State: @unchecked Sendable {
        /// `[tokens, f]` (GELU) or `[tokens, 2f]` (SwiGLU: gate then up), f = this rank's intermediate features.
        public let up = FloatBuffer(count: 0)
        /// `[tokens, f]`: the activation output, input of the down projection.
        public let activated = FloatBuffer(count: 0)
        let outputGradient = FloatBuffer(count: 0)
        let activatedGradient = FloatBuffer(count: 0)
        let upGradient = FloatBuffer(count: 0)
        let gatheredInput = FloatBuffer(count: 0)

        public init() {}

        /// Bytes saved by the forward pass for the backward pass.
        public var savedBytes: Int { (up.count + activated.count) * 4 }
        /// Bytes of every buffer held.
        public var byteCount: Int {
            [up, activated, outputGradient, activatedGradient, upGradient, gatheredInput].reduce(0) { $0 + $1.byteCount }
        }
    }

    public let up: ColumnParallelLinear
    public let down: RowParallelLinear
    public let activation: MLPActivation
    public let context: LayerContext

    public init(up: ColumnParallelLinear, down: RowParallelLinear, activation: MLPActivation, context: LayerContext) {
        self.up = up
        self.down = down
        self.activation = activation
        self.context = context
    }

    private var features: Int { down.products.inFeatures }

    /// Forward on this rank's rows `x` `[localRows, hidden]`; returns `[localRows, hidden]` in `workspace`.
    public func forward(_ x: UnsafeMutablePointer<Float>, tokens: Int, state: State, workspace: Workspace) throws -> UnsafeMutablePointer<Float> {
        let input = try up.gatherInput(x, localRows: context.localRows(tokens: tokens), scratch: workspace.gathered)
        let f = features
        state.up.reserve(tokens * up.outFeatures)
        up.forward(input, tokens: tokens, into: state.up.pointer)
        state.activated.reserve(tokens * f)
        switch activation {
        case .gelu:
            context.backend.gelu(state.up.pointer, into: state.activated.pointer, count: tokens * f)
        case .swiglu:
            context.backend.swiglu(state.up.pointer, into: state.activated.pointer, rows: tokens, features: f)
        }
        return try down.forward(state.activated.pointer, tokens: tokens, workspace: workspace)
    }

    /// Backward from `dy` `[localRows, hidden]` given the forward input `x`; returns the input gradient
    /// `[localRows, hidden]` in `workspace`.
    public func backward(_ dy: UnsafeMutablePointer<Float>, input x: UnsafeMutablePointer<Float>, tokens: Int, state: State,
                         workspace: Workspace, queue: WeightGradientQueue, mode: BackwardMode) throws -> UnsafeMutablePointer<Float> {
        let f = features
        try down.gatherOutputGradient(dy, tokens: tokens, into: state.outputGradient)
        state.activatedGradient.reserve(tokens * f)
        down.inputGradient(state.outputGradient.pointer, tokens: tokens, into: state.activatedGradient.pointer)
        down.weightGradients(input: state.activated.pointer, dyFull: state.outputGradient.pointer, tokens: tokens,
                             queue: queue, mode: mode)

        state.upGradient.reserve(tokens * up.outFeatures)
        switch activation {
        case .gelu:
            context.backend.geluBackward(state.up.pointer, state.activatedGradient.pointer, into: state.upGradient.pointer,
                                         count: tokens * f)
        case .swiglu:
            context.backend.swigluBackward(state.up.pointer, state.activatedGradient.pointer, into: state.upGradient.pointer,
                                           rows: tokens, features: f)
        }

        let input = try up.regatherInput(x, tokens: tokens, into: state.gatheredInput)
        workspace.partial.reserve(tokens * up.inFeatures)
        up.inputGradient(state.upGradient.pointer, tokens: tokens, into: workspace.partial.pointer)
        up.weightGradients(input: input, dy: state.upGradient.pointer, tokens: tokens, queue: queue, mode: mode)
        return try up.reduceInputGradient(workspace.partial.pointer, tokens: tokens, scratch: workspace.reduced)
    }
}
