import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraTensor

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
public struct MemoryReport: Sendable, Hashable, Codable {
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

    /// Builds this rank's model (initialized from `seed`; `nil` leaves zeros for a checkpoint) and optimizer.
    /// - Parameters:
    ///   - groups: the rank's process groups (`nil` on one device); the model is split over `groups.tensor`.
    ///   - mappings: the conjugate mappings (tests replace one to prove the equivalence tests can fail).
    ///   - backend: this rank's threads (as many as its OpenBLAS threads, its share of the cores): every kernel
    ///     outside `cblas_sgemm`, clipping and the AdamW update run on it. Results do not depend on its size.
    /// - Throws: ``ModelError`` for a configuration that is invalid or does not split over the group;
    ///   pipeline and context parallelism are not handled by this engine yet.
    public init(config: TransformerConfig, groups: ProcessGroups? = nil, seed: UInt64?, sequenceParallel: Bool = false,
                optimizer: AdamWConfiguration = AdamWConfiguration(), mappings: MappingTable = .megatron,
                backend: any ComputeBackend = CPUBackend.serial) throws {
        if let groups, groups.mesh.pp > 1 || groups.mesh.cp > 1 {
            throw ModelError.invalidConfiguration(field: "mesh", reason: "\(groups.mesh) needs the pipeline executor; this engine runs tp × dp")
        }
        let context = LayerContext(groups: groups, sequenceParallel: sequenceParallel, mappings: mappings, backend: backend)
        self.model = try Transformer(config: config, context: context, seed: seed)
        self.optimizer = AdamW(configuration: optimizer, store: model.store, backend: backend)
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
        let norm = try GradientClipping.norm(model.store) { try model.context.tp.sum($0) }
        optimizer.step(model.store, learningRate: learningRate,
                       gradientScale: GradientClipping.coefficient(norm: norm, maxNorm: maxGradientNorm))
        step += 1
        return StepReport(loss: lossSum / Double(total), gradientNorm: norm, learningRate: learningRate, tokens: local)
    }

    /// Forward and backward of one micro-batch, accumulating gradients; returns the sum of its token losses.
    public func forwardBackward(_ microBatch: MicroBatch, lossScale: Float) throws -> Double {
        guard microBatch.targets != nil else { throw ModelError.invalidBatch(reason: "training needs targets") }
        try microBatch.validate(for: config, tp: model.context.tp.size, sequenceParallel: model.context.sequenceParallel)
        let state = self.state()
        try chunk.forward(microBatch, state: state, lossScale: lossScale)
        try chunk.backward(state: state)
        return state.lossSum
    }

    /// Sum and count of the token losses of `microBatch` (no gradients).
    public func evaluate(_ microBatch: MicroBatch) throws -> (lossSum: Double, tokens: Int) {
        guard microBatch.targets != nil else { throw ModelError.invalidBatch(reason: "evaluation needs targets") }
        try microBatch.validate(for: config, tp: model.context.tp.size, sequenceParallel: model.context.sequenceParallel)
        let state = self.state()
        try chunk.forward(microBatch, state: state)
        return (state.lossSum, microBatch.tokenCount)
    }

    /// Full-vocabulary logits `[tokens, vocabulary]` for `microBatch` (targets ignored), gathered over tp.
    public func logits(_ microBatch: MicroBatch) throws -> [Float] {
        try microBatch.validate(for: config, tp: model.context.tp.size, sequenceParallel: model.context.sequenceParallel)
        let plain = try MicroBatch(tokens: microBatch.tokens, targets: nil, batch: microBatch.batch, length: microBatch.length)
        let state = self.state()
        try chunk.forward(plain, state: state)
        return try gatheredLogits(state, tokens: plain.tokenCount)
    }

    /// The full-vocabulary logits of the last forward in `state`, gathered over tp, padding dropped.
    private func gatheredLogits(_ state: ChunkState, tokens: Int) throws -> [Float] {
        let local = model.config.paddedVocabularySize(tp: model.context.tp.size) / model.context.tp.size
        let width = chunk.head!.outFeatures
        // Pad each row to the equal shard width, gather the vocabulary over tp, drop the padding.
        let padded = FloatBuffer(count: tokens * local)
        for t in 0..<tokens { (padded.pointer + t * local).update(from: state.logits.pointer + t * width, count: width) }
        let scratch = FloatBuffer(count: 0)
        return try withExtendedLifetime(scratch) {
            let gathered = try model.context.mappings.gatherFromTensorRegion.forward(padded.pointer, rows: tokens, columns: local,
                                                                                 scratch: scratch, in: model.context)
            let full = local * model.context.tp.size, v = config.vocabularySize
            var result = [Float](repeating: 0, count: tokens * v)
            for t in 0..<tokens { for c in 0..<v { result[t * v + c] = gathered[t * full + c] } }
            return result
        }
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

extension TransformerEngine {
    /// Logits `[vocabulary]` for the token after `tokens` (one sequence), gathered over tp, recomputing
    /// the whole prefix (see ``decode(_:caches:)`` for incremental decoding).
    public func nextTokenLogits(_ tokens: [Int32]) throws -> [Float] {
        let all: [Float] = try logits(MicroBatch(tokens: tokens, targets: nil, batch: 1, length: tokens.count))
        return Array(all[((tokens.count - 1) * config.vocabularySize)...])
    }

    /// Empty key/value caches (one per block) for decoding one sequence of up to `capacity` tokens.
    public func makeCaches(capacity: Int? = nil) -> [KeyValueCache] {
        chunk.makeCaches(capacity: min(capacity ?? config.contextLength, config.contextLength))
    }

    /// Incremental decoding: runs `tokens` (the prompt, then one new token per call) after those already in
    /// `caches` and returns the logits `[vocabulary]` for the next token, gathered over tp.
    /// - Throws: ``ModelError/invalidBatch(reason:)`` when the caches would overflow; ``ModelError/invalidConfiguration(field:reason:)``
    ///   with sequence parallelism (decode with it off).
    public func decode(_ tokens: [Int32], caches: [KeyValueCache]) throws -> [Float] {
        guard !model.context.sequenceParallel else {
            throw ModelError.invalidConfiguration(field: "sequence parallelism", reason: "incremental decoding runs without it; build the engine with sequenceParallel: false")
        }
        guard let cache = caches.first, cache.count + tokens.count <= cache.capacity, caches.count == chunk.blocks.count else {
            throw ModelError.invalidBatch(reason: "\(tokens.count) more tokens do not fit the key/value cache (\(caches.first?.count ?? 0) of \(caches.first?.capacity ?? 0) used); start a new sequence")
        }
        let batch = try MicroBatch(tokens: tokens, targets: nil, batch: 1, length: tokens.count)
        try batch.validate(for: config, tp: 1, sequenceParallel: false)
        let state = self.state()
        try chunk.forward(batch, state: state, caches: caches)
        let logits = try gatheredLogits(state, tokens: tokens.count)
        return Array(logits[((tokens.count - 1) * config.vocabularySize)...])
    }
}
