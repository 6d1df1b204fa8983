import TesseraCollectives
import TesseraNN
import TesseraParallel

/// What one optimizer step did.
public struct StepReport: Sendable, Hashable {
    /// Mean cross-entropy over every target of the step.
    public var loss: Double
    /// Global gradient L2 norm before clipping.
    public var gradientNorm: Float
    public var learningRate: Float
    /// Targets in the step (this rank's share of the global batch).
    public var tokens: Int
}

/// Per-rank memory, for the report printed at start.
public struct MemoryReport: Sendable, Hashable {
    /// Parameter values on this rank.
    public var parameterBytes: Int
    /// Gradients on this rank.
    public var gradientBytes: Int
    /// AdamW moments on this rank.
    public var optimizerBytes: Int
    /// Activations the forward pass saved for the backward pass, per micro-batch in flight.
    public var activationBytes: Int
}

/// The training and inference engine one rank runs: the local model, its optimizer and the
/// step loop (forward and backward over the micro-batches with gradient accumulation, gradient
/// reductions, clipping, AdamW). The training CLI builds one per rank.
public final class TransformerEngine: @unchecked Sendable {
    public let model: Transformer
    public let optimizer: AdamW
    /// The groups this rank belongs to, or `nil` on one device.
    public let groups: ProcessGroups?
    private var states: [ChunkState] = []
    /// Steps taken.
    public private(set) var step = 0

    /// Builds this rank's model (initialized from `seed`) and optimizer.
    /// - Parameters:
    ///   - groups: the rank's process groups (`nil` on one device); the model is split over `groups.tensor`.
    ///   - mappings: the conjugate mappings (tests replace one to prove the equivalence tests can fail).
    /// - Throws: ``ModelError`` for a configuration that is invalid or does not split over the group;
    ///   pipeline and context parallelism are not handled by this engine yet.
    public init(config: TransformerConfig, groups: ProcessGroups? = nil, seed: UInt64, sequenceParallel: Bool = false,
                optimizer: AdamWConfiguration = AdamWConfiguration(), mappings: MappingTable = .megatron) throws {
        if let groups, groups.mesh.pp > 1 || groups.mesh.cp > 1 {
            throw ModelError.invalidConfiguration(field: "mesh", reason: "\(groups.mesh) needs the pipeline executor; this engine runs tp × dp")
        }
        let tp = TensorParallelism(group: groups?.tensor, sequenceParallel: sequenceParallel, mappings: mappings)
        self.model = try Transformer(config: config, tp: tp, seed: seed)
        self.optimizer = AdamW(configuration: optimizer, store: model.store)
        self.groups = groups
    }

    public var config: TransformerConfig { model.config }
    private var chunk: TransformerChunk { model.chunks[0] }

    /// One optimizer step over `microBatches` (this rank's share of the global batch, all with targets).
    ///
    /// Every token's loss is scaled by `1 / globalTokens` (default: the targets of `microBatches`; with
    /// data parallelism pass the global batch's count), gradients accumulate over the micro-batches,
    /// partial gradients are reduced over tp and averaged over dp, then clipped to `maxGradientNorm` and
    /// applied with AdamW at `learningRate`.
    /// - Throws: ``ModelError`` for invalid batches, ``CollectiveError`` when a peer fails.
    public func trainStep(_ microBatches: [MicroBatch], learningRate: Float, maxGradientNorm: Float?,
                          globalTokens: Int? = nil) throws -> StepReport {
        let local = microBatches.reduce(0) { $0 + $1.tokenCount }
        let total = globalTokens ?? local
        guard total > 0 else { throw ModelError.invalidBatch(reason: "a step needs at least one micro-batch") }
        model.store.zeroGradients()
        var lossSum = 0.0
        for microBatch in microBatches {
            lossSum += try forwardBackward(microBatch, lossScale: 1 / Float(total))
        }
        try model.reduceTensorParallelGradients()
        if let data = groups?.data, data.size > 1 {
            // Every dp rank scaled by the global count, so the mean is a sum.
            try data.allReduce(model.store.gradients.mutableElements, operation: .sum)
            lossSum = Double(try data.allReduce(Float(lossSum), operation: .sum))
        }
        let norm = try GradientClipping.clip(model.store, maxNorm: maxGradientNorm) { try model.tp.sum($0) }
        optimizer.step(model.store, learningRate: learningRate)
        step += 1
        return StepReport(loss: lossSum / Double(total), gradientNorm: norm, learningRate: learningRate, tokens: local)
    }

    /// Forward and backward of one micro-batch, accumulating gradients; returns the sum of its token losses.
    public func forwardBackward(_ microBatch: MicroBatch, lossScale: Float) throws -> Double {
        guard microBatch.targets != nil else { throw ModelError.invalidBatch(reason: "training needs targets") }
        try microBatch.validate(for: config, tp: model.tp.size, sequenceParallel: model.tp.sequenceParallel)
        let state = self.state()
        try chunk.forward(microBatch, state: state, lossScale: lossScale)
        try chunk.backward(state: state)
        return state.lossSum
    }

    /// Sum and count of the token losses of `microBatch` (no gradients).
    public func evaluate(_ microBatch: MicroBatch) throws -> (lossSum: Double, tokens: Int) {
        guard microBatch.targets != nil else { throw ModelError.invalidBatch(reason: "evaluation needs targets") }
        try microBatch.validate(for: config, tp: model.tp.size, sequenceParallel: model.tp.sequenceParallel)
        let state = self.state()
        try chunk.forward(microBatch, state: state)
        return (state.lossSum, microBatch.tokenCount)
    }

    /// Full-vocabulary logits `[tokens, vocabulary]` for `microBatch` (targets ignored), gathered over tp.
    public func logits(_ microBatch: MicroBatch) throws -> [Float] {
        try microBatch.validate(for: config, tp: model.tp.size, sequenceParallel: model.tp.sequenceParallel)
        let plain = try MicroBatch(tokens: microBatch.tokens, targets: nil, batch: microBatch.batch, length: microBatch.length)
        let state = self.state()
        try chunk.forward(plain, state: state)
        let tokens = plain.tokenCount, local = model.config.paddedVocabularySize(tp: model.tp.size) / model.tp.size
        let width = chunk.head!.outFeatures
        // Pad each row to the equal shard width, gather the vocabulary over tp, drop the padding.
        let padded = FloatBuffer(count: tokens * local)
        for t in 0..<tokens { (padded.pointer + t * local).update(from: state.logits.pointer + t * width, count: width) }
        let gathered = try model.tp.mappings.gatherFromTensorRegion.forward(padded.pointer, rows: tokens, columns: local,
                                                                             scratch: FloatBuffer(count: 0), in: model.tp)
        let full = local * model.tp.size, v = config.vocabularySize
        var result = [Float](repeating: 0, count: tokens * v)
        for t in 0..<tokens { for c in 0..<v { result[t * v + c] = gathered[t * full + c] } }
        return result
    }

    /// Per-rank memory: parameters, gradients, optimizer moments, and the activations of the last step.
    public var memory: MemoryReport {
        MemoryReport(parameterBytes: model.parameterBytes, gradientBytes: model.store.gradients.count * 4,
                     optimizerBytes: optimizer.firstMoments.byteCount + optimizer.secondMoments.byteCount,
                     activationBytes: states.first?.savedActivationBytes ?? 0)
    }

    private func state() -> ChunkState {
        if states.isEmpty { states.append(chunk.makeState()) }
        return states[0]
    }
}
