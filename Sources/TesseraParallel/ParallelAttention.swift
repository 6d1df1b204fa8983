import TesseraNN
import TesseraTensor

/// Causal self-attention with heads split over the tensor-parallel group: a column-parallel projection
/// to this rank's query, key and value heads, attention on those heads, and a row-parallel output
/// projection.
///
/// Grouped-query attention: a rank computes the key/value heads its query heads read. When its query heads
/// are whole groups the key/value heads are split like them; otherwise (tp > kvHeads, or an uneven split
/// whose group straddles two ranks) every rank holds the whole, replicated key/value weights, computes only
/// the heads its queries read, and the partial weight gradients are summed over tp
/// (``GradientReduction/sumOverTensorParallel``). The rank's first query head may sit inside its key/value
/// head's group (`groupOffset`), so the local heads need not be a whole number of groups.
public struct ParallelAttention: @unchecked Sendable {
    /// What one micro-batch's backward needs (and scratch that deferred weight gradients read).
    public final class State: @unchecked Sendable {
        /// `[tokens, (heads + 2·kvHeads)·headDim]` local: rotated q and k, then v.
        public let qkv = FloatBuffer(count: 0)
        /// `[tokens, heads·headDim]` local: the attention output, input of the output projection.
        public let context: FloatBuffer
        /// `[batch, heads, length]` log-sum-exp of the attention rows.
        public let logSumExp: FloatBuffer
        /// Whether ``context`` and ``logSumExp`` belong to this state alone (not shared for selective
        /// recomputation).
        public let ownsCore: Bool
        /// Backward: the full output gradient `[tokens, hidden]`.
        let outputGradient = FloatBuffer(count: 0)
        /// Backward: gradient of `context`.
        let contextGradient = FloatBuffer(count: 0)
        /// Backward: gradient of `qkv` (pre-rotation after the inverse rotation).
        let qkvGradient = FloatBuffer(count: 0)
        /// Backward: the all-gathered input (sequence parallelism; kept for deferred weight gradients).
        let gatheredInput = FloatBuffer(count: 0)
        /// Context parallelism: this rank's share of the sequences of the micro-batch (`nil`: whole sequences).
        /// Set before the forward pass; the rows are then `[batch, shard.localLength]`.
        public var shard: ContextShard?
        /// Context parallelism with Ulysses attention: the head-sharded q/k/v and output kept for the backward pass.
        let sequenceShards = FloatBuffer(count: 0)

        public init() {
            context = FloatBuffer(count: 0)
            logSumExp = FloatBuffer(count: 0)
            ownsCore = true
        }

        /// A state whose attention output and log-sum-exp live in `core`'s buffers, shared by every
        /// micro-batch: selective recomputation rebuilds them with ``ParallelAttention/computeCore(batch:length:state:)``
        /// right before the backward pass reads them, so they need not be kept between the passes.
        public init(sharingCoreOf core: State) {
            context = core.context
            logSumExp = core.logSumExp
            ownsCore = false
        }

        /// Bytes saved by the forward pass for the backward pass (shared core buffers not included).
        public var savedBytes: Int { (qkv.count + sequenceShards.count + (ownsCore ? context.count + logSumExp.count : 0)) * 4 }
        /// Bytes of every buffer held.
        public var byteCount: Int {
            [qkv, context, logSumExp, outputGradient, contextGradient, qkvGradient, gatheredInput, sequenceShards].reduce(0) { $0 + $1.byteCount }
        }
    }

    public let projection: ColumnParallelLinear
    public let output: RowParallelLinear
    /// Query heads on this rank.
    public let heads: Int
    /// Key/value heads this rank computes.
    public let kvHeads: Int
    public let headDim: Int
    /// Query heads per key/value head in the whole model.
    public let groupSize: Int
    /// The place of this rank's first query head in its key/value head's group.
    public let groupOffset: Int
    public let rotary: RotaryEmbedding?
    public let context: LayerContext

    /// - Parameters:
    ///   - groupSize: query heads per key/value head in the whole model (default `heads / kvHeads`).
    ///   - groupOffset: the place of this rank's first query head in its key/value head's group (default 0).
    public init(projection: ColumnParallelLinear, output: RowParallelLinear, heads: Int, kvHeads: Int, headDim: Int,
                groupSize: Int? = nil, groupOffset: Int = 0, rotary: RotaryEmbedding?, context: LayerContext) {
        precondition(projection.outFeatures == (heads + 2 * kvHeads) * headDim, "projection width does not match the heads")
        self.projection = projection
        self.output = output
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.groupSize = groupSize ?? heads / kvHeads
        self.groupOffset = groupOffset
        self.rotary = rotary
        self.context = context
    }

    private var width: Int { (heads + 2 * kvHeads) * headDim }

    func shape(batch: Int, length: Int, keyLength: Int? = nil) -> AttentionShape {
        AttentionShape(batch: batch, queryLength: length, keyLength: keyLength, heads: heads, kvHeads: kvHeads, headDim: headDim,
                       groupSize: groupSize, groupOffset: groupOffset)
    }

    /// Forward on this rank's input rows `x` `[localRows, hidden]` of `batch` sequences of `length`.
    /// Returns the output `[localRows, hidden]` in `workspace` (valid until the next layer call). (Decoding over
    /// cached keys and values: ParallelAttention+Batched.swift.)
    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, length: Int, state: State,
                        workspace: Workspace) throws -> UnsafeMutablePointer<Float> {
        let tokens = batch * length
        let input = try projection.gatherInput(x, localRows: context.localRows(tokens: tokens), scratch: workspace.gathered)
        state.qkv.reserve(tokens * width)
        projection.forward(input, tokens: tokens, into: state.qkv.pointer)
        rotate(state.qkv.pointer, batch: batch, length: length, shard: state.shard, inverse: false)
        try computeCore(batch: batch, length: length, state: state)
        return try output.forward(state.context.pointer, tokens: tokens, workspace: workspace)
    }

    /// The attention core: `state.context = softmax(q·kᵀ / √d)·v` (causal) and its row log-sum-exp, from the
    /// rotated `state.qkv`. The forward pass runs it; selective recomputation runs it again before the
    /// backward pass, with identical results. With context parallelism (a ``State/shard``) the queries attend to
    /// every rank's keys through the cp group.
    public func computeCore(batch: Int, length: Int, state: State) throws {
        if let core = contextParallelCore(batch: batch, state: state) { return try core.forward(state: state) }
        let tokens = batch * length, d = headDim
        state.context.reserve(tokens * heads * d)
        state.logSumExp.reserve(batch * heads * length)
        let qkv = state.qkv.pointer
        context.backend.attention(q: qkv, qStride: width, k: qkv + heads * d, v: qkv + (heads + kvHeads) * d, kvStride: width,
                          into: state.context.pointer, outStride: heads * d, logSumExp: state.logSumExp.pointer,
                          shape: shape(batch: batch, length: length))
    }

    /// Backward from the output gradient `dy` `[localRows, hidden]`, given the forward input `x`.
    /// Returns the input gradient `[localRows, hidden]` in `workspace`.
    public func backward(_ dy: UnsafeMutablePointer<Float>, input x: UnsafeMutablePointer<Float>, batch: Int, length: Int,
                         state: State, workspace: Workspace, queue: WeightGradientQueue,
                         mode: BackwardMode) throws -> UnsafeMutablePointer<Float> {
        let tokens = batch * length, d = headDim
        try output.gatherOutputGradient(dy, tokens: tokens, into: state.outputGradient)
        state.contextGradient.reserve(tokens * heads * d)
        output.inputGradient(state.outputGradient.pointer, tokens: tokens, into: state.contextGradient.pointer)
        output.weightGradients(input: state.context.pointer, dyFull: state.outputGradient.pointer, tokens: tokens,
                               queue: queue, mode: mode)

        try backwardCore(state.contextGradient.pointer, batch: batch, length: length, state: state)
        let dqkv = state.qkvGradient.pointer
        rotate(dqkv, batch: batch, length: length, shard: state.shard, inverse: true)

        let input = try projection.regatherInput(x, tokens: tokens, into: state.gatheredInput)
        workspace.partial.reserve(tokens * projection.inFeatures)
        projection.inputGradient(dqkv, tokens: tokens, into: workspace.partial.pointer)
        projection.weightGradients(input: input, dy: dqkv, tokens: tokens,
                                   queue: queue, mode: mode)
        return try projection.reduceInputGradient(workspace.partial.pointer, tokens: tokens, scratch: workspace.reduced)
    }

    /// The attention core's backward: `state.qkvGradient` `[tokens, (heads + 2·kvHeads)·headDim]` (the gradient of
    /// the rotated `qkv`, before the inverse rotation) from `dOut`, the gradient of `state.context`
    /// `[tokens, heads·headDim]`, given the forward's `state.context` and `state.logSumExp`. With context
    /// parallelism the key/value gradients come home through the cp group.
    public func backwardCore(_ dOut: UnsafePointer<Float>, batch: Int, length: Int, state: State) throws {
        state.qkvGradient.reserve(batch * length * width)
        if let core = contextParallelCore(batch: batch, state: state) { return try core.backward(dOut: dOut, state: state) }
        let d = headDim, qkv = state.qkv.pointer, dqkv = state.qkvGradient.pointer
        context.backend.attentionBackward(
            dOut: dOut, q: qkv, qStride: width, k: qkv + heads * d, v: qkv + (heads + kvHeads) * d,
            kvStride: width, out: state.context.pointer, outStride: heads * d, logSumExp: state.logSumExp.pointer,
            dq: dqkv, dk: dqkv + heads * d, dv: dqkv + (heads + kvHeads) * d, shape: shape(batch: batch, length: length))
    }

    /// The context-parallel core for `state`'s shard (`nil` without context parallelism).
    private func contextParallelCore(batch: Int, state: State) -> ContextParallelAttention? {
        guard let shard = state.shard, context.cp.size > 1 else { return nil }
        let geometry = ContextAttentionGeometry(shard: shard, batch: batch, heads: heads, kvHeads: kvHeads, headDim: headDim,
                                                groupSize: groupSize, groupOffset: groupOffset)
        return ContextParallelAttention(geometry: geometry, context: context, scratch: context.contextScratch)
    }

    /// Rotates the query and key heads of `buffer` (`[tokens, width]`) by their positions (`t mod length`,
    /// or the shard's positions of the local rows), tokens split over the rank's backend.
    private func rotate(_ buffer: UnsafeMutablePointer<Float>, batch: Int, length: Int, shard: ContextShard?, inverse: Bool) {
        guard let rotary else { return }
        let positions = (0..<batch * length).map { Int32(shard?.positions[$0 % length] ?? $0 % length) }
        // The query heads and then the key heads lie side by side at the start of each row: one rotation covers both.
        positions.withUnsafeBufferPointer { p in
            context.backend.rotate(buffer, rowStride: width, heads: heads + kvHeads, positions: p.baseAddress!, tokens: batch * length,
                                   inverse: inverse, with: rotary)
        }
    }
}
