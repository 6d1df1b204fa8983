import TesseraNN
import TesseraParallel

/// Evaluation and generation on any layout: a forward pass runs every model chunk in model order, each stage
/// passing its hidden states `[localRows, hidden]` to the stage of the next chunk (chunk `g` of `pp · v` lives on
/// stage `g mod pp`); the last chunk's stage then hands its result (loss sum or logits) to every stage, so every
/// rank of the job returns the same values.
extension MeshEngine {
    /// Sum and count of the token losses of `microBatch` (no gradients).
    /// - Throws: ``ModelError/invalidBatch(reason:)`` without targets or for ids outside the vocabulary; ``CollectiveError``.
    public func evaluate(_ microBatch: MicroBatch) throws -> (lossSum: Double, tokens: Int) {
        guard microBatch.targets != nil else { throw ModelError.invalidBatch(reason: "evaluation needs targets") }
        var lossSum = [Float(try forwardThroughPipeline(localShare(of: microBatch), caches: nil)?.lossSum ?? 0)]
        try shareFromLastStage(&lossSum)
        // With context parallelism each cp rank holds the losses of its share of the tokens.
        return (try model.context.cp.sum(Double(lossSum[0])), microBatch.tokenCount)
    }

    /// Full-vocabulary logits `[tokens, vocabulary]` for `microBatch` (targets ignored), gathered over tp.
    public func logits(_ microBatch: MicroBatch) throws -> [Float] {
        try refuseContextParallel("logits")
        try validateInference(microBatch)
        let plain = try MicroBatch(tokens: microBatch.tokens, targets: nil, batch: microBatch.batch, length: microBatch.length)
        return try finalLogits(plain, caches: nil)
    }

    /// Logits `[vocabulary]` for the token after `tokens` (one sequence), recomputing the whole prefix (see
    /// ``decode(_:caches:)`` for incremental decoding).
    public func nextTokenLogits(_ tokens: [Int32]) throws -> [Float] {
        let all = try logits(MicroBatch(tokens: tokens, targets: nil, batch: 1, length: tokens.count))
        return Array(all[((tokens.count - 1) * config.vocabularySize)...])
    }

    /// Empty key/value caches, one per block this rank holds (its chunks' blocks in model order), for decoding one
    /// sequence of up to `capacity` tokens (the model's context by default).
    public func makeCaches(capacity: Int? = nil) -> [KeyValueCache] {
        let capacity = min(capacity ?? config.contextLength, config.contextLength)
        return model.chunks.flatMap { $0.makeCaches(capacity: capacity) }
    }

    /// Incremental decoding: runs `tokens` (the prompt, then one new token per call) after those already in
    /// `caches` and returns the logits `[vocabulary]` for the next token, the same on every rank.
    /// - Throws: ``ModelError/invalidBatch(reason:)`` when the caches would overflow; ``ModelError/invalidConfiguration(field:reason:)``
    ///   with sequence parallelism (decode with it off: ``inferenceEngine()``).
    public func decode(_ tokens: [Int32], caches: [KeyValueCache]) throws -> [Float] {
        try refuseContextParallel("incremental decoding")
        guard !model.context.sequenceParallel else {
            throw ModelError.invalidConfiguration(field: "sequence parallelism",
                                                  reason: "incremental decoding runs without it; decode with an engine whose layout has it off")
        }
        let blocks = model.chunks.reduce(0) { $0 + $1.blocks.count }
        guard caches.count == blocks, caches.allSatisfy({ $0.count + tokens.count <= $0.capacity }) else {
            throw ModelError.invalidBatch(reason: "\(tokens.count) more tokens do not fit the key/value cache (\(caches.first?.count ?? 0) of \(caches.first?.capacity ?? 0) used); start a new sequence")
        }
        let batch = try MicroBatch(tokens: tokens, targets: nil, batch: 1, length: tokens.count)
        let logits = try finalLogits(batch, caches: caches)
        return Array(logits[((tokens.count - 1) * config.vocabularySize)...])
    }

    /// Checks `microBatch` against the model and this rank's tp split.
    private func validateInference(_ microBatch: MicroBatch) throws {
        try microBatch.validate(for: config, tp: model.context.tp.size, sequenceParallel: model.context.sequenceParallel)
    }

    /// The gathered logits of the last chunk, shared with every stage.
    private func finalLogits(_ microBatch: MicroBatch, caches: [KeyValueCache]?) throws -> [Float] {
        var logits: [Float]
        if let state = try forwardThroughPipeline(microBatch, caches: caches) {
            logits = try gatheredLogits(state, tokens: microBatch.tokenCount)
        } else {
            logits = [Float](repeating: 0, count: microBatch.tokenCount * config.vocabularySize)
        }
        try shareFromLastStage(&logits)
        return logits
    }

    /// Runs every model chunk in order through the pipeline; returns the last chunk's state on the stage that holds
    /// it, `nil` on the others. `caches` are this rank's, one per local block in model order.
    private func forwardThroughPipeline(_ microBatch: MicroBatch, caches: [KeyValueCache]?) throws -> ChunkState? {
        let pipeline = parallel.pp > 1 ? groups?.pipeline : nil, stages = parallel.pp
        let chunks = stages * parallel.pipeline.virtualStages
        let count = model.context.localRows(tokens: microBatch.tokenCount) * config.hiddenSize
        var blockOffset = 0
        var handOff: FloatBuffer?
        for g in 0..<chunks where g % stages == stage {
            let local = g / stages, chunk = model.chunks[local]
            if g > 0, let pipeline {
                let received = FloatBuffer(count: count)
                try pipeline.receive(into: received.mutableElements, from: (g - 1) % stages, tag: Self.inferenceTag + g)
                handOff = received
            }
            let chunkCaches = caches.map { Array($0[blockOffset..<blockOffset + chunk.blocks.count]) }
            blockOffset += chunk.blocks.count
            let state = inferenceState(local)
            let output = try chunk.forward(microBatch, input: handOff?.pointer, state: state, caches: chunkCaches)
            guard g < chunks - 1 else { return state }
            if let output, let pipeline {
                try pipeline.send(UnsafeBufferPointer(start: output.pointer, count: count), to: (g + 1) % stages, tag: Self.inferenceTag + g + 1)
            } else {
                handOff = output
            }
        }
        return nil
    }

    /// Broadcasts `values` from the last stage to every stage (nothing with one stage).
    private func shareFromLastStage(_ values: inout [Float]) throws {
        guard parallel.pp > 1, let pipeline = groups?.pipeline else { return }
        try values.withUnsafeMutableBufferPointer { try pipeline.broadcast($0, root: parallel.pp - 1) }
    }

    /// The full-vocabulary logits of the last forward in `state`, gathered over tp.
    private func gatheredLogits(_ state: ChunkState, tokens: Int) throws -> [Float] {
        let context = model.context, chunk = model.chunks[model.chunks.count - 1], tp = context.tp.size
        let shares = (0..<tp).map { config.vocabularyShare(tp: tp, rank: $0) }, widest = shares.map(\.count).max()!
        let width = chunk.head!.outFeatures
        // Pad each row to the widest share, gather the vocabulary over tp, keep each rank's own columns.
        let padded = FloatBuffer(count: tokens * widest)
        for t in 0..<tokens { context.backend.copy(state.logits.pointer + t * width, into: padded.pointer + t * widest, count: width) }
        let scratch = FloatBuffer(count: 0)
        return try withExtendedLifetime(scratch) {
            let gathered = try context.mappings.gatherFromTensorRegion.forward(padded.pointer, rows: tokens, columns: widest,
                                                                              scratch: scratch, in: context)
            let full = widest * tp, v = config.vocabularySize
            var result = [Float](repeating: 0, count: tokens * v)
            for t in 0..<tokens {
                for (r, share) in shares.enumerated() {
                    for c in 0..<share.count { result[t * v + share.lowerBound + c] = gathered[t * full + r * widest + c] }
                }
            }
            return result
        }
    }

    /// Point-to-point tags of the inference pipeline (apart from the training executor's).
    private static let inferenceTag = 1 << 20
}
