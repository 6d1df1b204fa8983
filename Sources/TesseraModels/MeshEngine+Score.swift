import TesseraParallel

/// What evaluating one micro-batch gives: its cross-entropy and, for a mixture-of-experts model, the router losses
/// training would add to its objective.
public struct MicroBatchScore: Sendable {
    /// Σ of the targets' cross-entropies.
    public var lossSum: Double
    /// Targets scored.
    public var tokens: Int
    /// The router losses over the micro-batch's tokens and every router layer (``RouterLosses``, as training computes
    /// them for a micro-batch); `nil` for a dense model.
    public var routerLosses: RouterLosses?
}

extension MeshEngine {
    /// The cross-entropy sum of `microBatch` and, for a mixture-of-experts model, its router losses (no gradients).
    /// The router statistics of every layer are summed over the pipeline stages and over the ranks holding parts of
    /// the sequences (tp with sequence parallelism, cp), so the losses are the whole micro-batch's on any layout.
    /// - Throws: ``ModelError/invalidBatch(reason:)`` without targets or for ids outside the vocabulary; ``CollectiveError``.
    public func score(_ microBatch: MicroBatch) throws -> MicroBatchScore {
        guard microBatch.targets != nil else { throw ModelError.invalidBatch(reason: "evaluation needs targets") }
        let local = try localShare(of: microBatch), context = model.context
        var statistics = RouterStatistics(experts: config.moe?.router.experts ?? 0)
        var lossSum: [Float] = [0]
        try forwardThroughPipeline(rows: [context.localRows(tokens: local.tokenCount)], { chunk, state, _, input, _ in
            let output = try chunk.forward(local, input: input, state: state)
            if config.moe != nil { state.routerStatistics.forEach { statistics.add($0) } }
            return output
        }, finish: { state, _ in lossSum[0] = Float(state.lossSum) })
        try shareFromLastStage(&lossSum)
        // With context parallelism each cp rank holds the losses of its share of the tokens.
        let crossEntropy = try context.cp.sum(Double(lossSum[0]))
        guard let moe = config.moe else { return MicroBatchScore(lossSum: crossEntropy, tokens: microBatch.tokenCount) }
        let pipeline = AxisGroup(parallel.pp > 1 ? groups?.pipeline : nil)
        var layers = [statistics]
        for group in (context.sequenceParallel ? [context.tp] : []) + [context.cp, pipeline] {
            layers = try RouterStatistics.summed(layers, over: group)
        }
        return MicroBatchScore(lossSum: crossEntropy, tokens: microBatch.tokenCount,
                               routerLosses: RouterLosses(layers: layers, configuration: moe.router))
    }
}
