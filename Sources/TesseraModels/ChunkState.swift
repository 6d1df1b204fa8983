import TesseraNN
import TesseraParallel

/// Everything one micro-batch leaves in one chunk between its forward and its backward pass.
///
/// An executor keeps one state per micro-batch in flight per chunk and may reuse a state once its
/// backward (and deferred weight gradients) are done; buffers keep their capacity across reuse.
public final class ChunkState: @unchecked Sendable {
    /// One state per block of the chunk.
    public let blocks: [TransformerBlock.State]
    /// The chunk input `[localRows, hidden]`: the embedding output (first chunk) or a copy of the
    /// activation received from the previous chunk.
    public let input = FloatBuffer(count: 0)
    /// The micro-batch of the last forward pass.
    public internal(set) var microBatch: MicroBatch?
    /// Weight-gradient work deferred by a `.inputOnly` backward.
    public let weightGradients = WeightGradientQueue()
    /// The gradient of ``input`` after the backward pass (chunks after the first).
    public let inputGradient = FloatBuffer(count: 0)

    // Last chunk only.
    let finalNormalized = FloatBuffer(count: 0)
    let finalStatistics = FloatBuffer(count: 0)
    /// `[tokens, local vocabulary]`: logits, overwritten with their gradient when the forward had a loss scale.
    public let logits = FloatBuffer(count: 0)
    /// `[tokens]` per-token cross-entropy (last chunk, when targets were given).
    public let losses = FloatBuffer(count: 0)
    let rowStatistics = FloatBuffer(count: 0)
    let headInput = FloatBuffer(count: 0)
    let finalGradient = FloatBuffer(count: 0)
    /// Σ of ``losses`` (in Double) after a forward pass with targets.
    public internal(set) var lossSum: Double = 0
    /// Whether ``logits`` now holds gradients (the forward had a loss scale).
    public internal(set) var holdsLogitGradients = false
    /// Each block's router statistics over the whole micro-batch (mixture-of-experts models; empty statistics otherwise).
    public internal(set) var routerStatistics: [RouterStatistics]
    /// The router losses of this micro-batch over the chunk's blocks (mixture-of-experts models).
    public internal(set) var routerLosses: RouterLosses?
    /// What the router losses add to each router's gradient (set when the forward had a loss scale).
    var routerLossGradient: RouterLossGradient?
    /// The activation and its gradient as sent between pipeline stages with router statistics appended
    /// (``TransformerStageWork``, mixture-of-experts models trained with router losses on a pipeline).
    let boundaryOutput = FloatBuffer(count: 0)
    let boundaryGradient = FloatBuffer(count: 0)

    /// - Parameter sharedAttentionCore: under selective recomputation, the chunk's one attention core that
    ///   every block state shares (`nil`: each block keeps its own).
    public init(blocks: Int, sharedAttentionCore: ParallelAttention.State? = nil) {
        routerStatistics = Array(repeating: RouterStatistics(experts: 0), count: blocks)
        self.blocks = (0..<blocks).map { _ in
            TransformerBlock.State(attention: sharedAttentionCore.map(ParallelAttention.State.init(sharingCoreOf:)) ?? ParallelAttention.State())
        }
    }

    /// Bytes of activations the forward pass saved for the backward pass.
    public var savedActivationBytes: Int {
        blocks.reduce(input.count * 4) { $0 + $1.savedBytes }
            + (finalNormalized.count + finalStatistics.count + logits.count + losses.count) * 4
    }
}

extension ChunkState {
    /// Combines the blocks' router statistics into the micro-batch's router losses and, with a loss scale (each
    /// token's `∂objective/∂loss`: training), first sums them over each of `groups` (the data group dp × cp, and tp
    /// with sequence parallelism: together every token of the micro-batch) and derives their gradient coefficients: the micro-batch's losses weigh in the objective as its
    /// share of the step's tokens (`lossScale × its global tokens`), as its cross-entropy does. Without a loss scale
    /// (evaluation, generation) nothing is communicated and the losses are this rank's. `earlier`: the statistics
    /// of every earlier pipeline chunk's layers, summed (``TransformerStageWork`` carries them along the pipeline),
    /// which the losses then include.
    /// - Throws: ``CollectiveError`` when a peer fails.
    func finishRouting(_ router: RouterConfiguration, lossScale: Float?, groups: [AxisGroup], earlier: RouterStatistics? = nil) throws {
        if lossScale != nil {
            for group in groups { routerStatistics = try RouterStatistics.summed(routerStatistics, over: group) }
        }
        let losses = RouterLosses(layers: routerStatistics + (earlier.map { [$0] } ?? []), configuration: router)
        routerLosses = losses
        let tokens = Float(routerStatistics.first?.tokens ?? 0)
        routerLossGradient = lossScale.map { losses.gradient(scale: $0 * tokens) }
    }
}
