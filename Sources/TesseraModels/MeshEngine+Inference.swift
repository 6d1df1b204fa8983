import TesseraNN
import TesseraParallel

/// Evaluation and generation on any layout: a forward pass runs every model chunk in model order, each stage
/// passing its hidden states `[localRows, hidden]` to the stage of the next chunk (chunk `g` of `pp · v` lives on
/// stage `g mod pp`); the last chunk's stage then hands its result (loss sum or logits) to every stage, so every
/// rank of the job returns the same values.
extension MeshEngine {
    /// Sum and count of the token cross-entropies of `microBatch` (no gradients; ``score(_:)`` adds the router losses).
    /// - Throws: ``ModelError/invalidBatch(reason:)`` without targets or for ids outside the vocabulary; ``CollectiveError``.
    public func evaluate(_ microBatch: MicroBatch) throws -> (lossSum: Double, tokens: Int) {
        let score = try score(microBatch)
        return (score.lossSum, score.tokens)
    }

    /// Full-vocabulary logits `[tokens, vocabulary]` for `microBatch` (targets ignored), gathered over tp.
    public func logits(_ microBatch: MicroBatch) throws -> [Float] {
        try refuseContextParallel("logits")
        try validateInference(microBatch)
        let plain = try MicroBatch(tokens: microBatch.tokens, targets: nil, batch: microBatch.batch, length: microBatch.length)
        return try finalLogits(plain)
    }

    /// Logits `[vocabulary]` for the token after `tokens` (one sequence), recomputing the whole prefix (see
    /// ``decode(_:pool:)`` for incremental decoding).
    public func nextTokenLogits(_ tokens: [Int32]) throws -> [Float] {
        let all = try logits(MicroBatch(tokens: tokens, targets: nil, batch: 1, length: tokens.count))
        return Array(all[((tokens.count - 1) * config.vocabularySize)...])
    }

    /// Checks `microBatch` against the model and this rank's tp split.
    private func validateInference(_ microBatch: MicroBatch) throws {
        try microBatch.validate(for: config, tp: model.context.tp.size, sequenceParallel: model.context.sequenceParallel)
    }

    /// The gathered logits of the last chunk, shared with every stage.
    private func finalLogits(_ microBatch: MicroBatch) throws -> [Float] {
        var logits: [Float]
        if let state = try forwardThroughPipeline(microBatch) {
            logits = try gatheredLogits(state, tokens: microBatch.tokenCount)
        } else {
            logits = [Float](repeating: 0, count: microBatch.tokenCount * config.vocabularySize)
        }
        try shareFromLastStage(&logits)
        return logits
    }

    /// Runs `microBatch` through every model chunk in order; returns the last chunk's state on the stage that holds
    /// it, `nil` on the others.
    private func forwardThroughPipeline(_ microBatch: MicroBatch) throws -> ChunkState? {
        var last: ChunkState?
        try forwardThroughPipeline(rows: [model.context.localRows(tokens: microBatch.tokenCount)], { chunk, state, _, input, _ in
            try chunk.forward(microBatch, input: input, state: state)
        }, finish: { state, _ in last = state })
        return last
    }

    /// Runs micro-batches `0..<rows.count` through every model chunk in order as a GPipe forward: each stage runs
    /// its chunk on micro-batch 0, passes the hidden states on and goes on with micro-batch 1 while the next stage
    /// works on 0, so with `pp` micro-batches every stage has work. `forward(chunk, state, firstLayer, input, m)`
    /// runs one chunk on micro-batch `m` (`input`: the previous chunk's output `[rows[m], hidden]`, `nil` for the
    /// first chunk); `finish(state, m)` reads the last chunk's state right after micro-batch `m` ran it, on the
    /// stage that holds it, before the next micro-batch overwrites it. Sends never wait for their receives, so a
    /// stage runs ahead; messages of one chunk arrive in micro-batch order.
    /// - Precondition: one micro-batch unless pp > 1 (on one stage the next chunk reads the state the previous one
    ///   left).
    func forwardThroughPipeline(rows: [Int], _ forward: (TransformerChunk, ChunkState, Int, UnsafePointer<Float>?, Int) throws -> FloatBuffer?,
                                finish: (ChunkState, Int) throws -> Void) throws {
        let pipeline = parallel.pp > 1 ? groups?.pipeline : nil, stages = parallel.pp
        precondition(pipeline != nil || rows.count == 1, "\(rows.count) micro-batches need pp > 1")
        let chunks = stages * parallel.pipeline.virtualStages
        var firstLayer = 0
        var handOff: FloatBuffer?
        for g in 0..<chunks where g % stages == stage {
            let local = g / stages, chunk = model.chunks[local], state = inferenceState(local)
            for (m, rows) in rows.enumerated() {
                let count = rows * config.hiddenSize
                if g > 0, let pipeline {
                    let received = FloatBuffer(count: count)
                    try pipeline.receive(into: received.mutableElements, from: (g - 1) % stages, tag: Self.inferenceTag + g)
                    handOff = received
                }
                let output = try forward(chunk, state, firstLayer, handOff.map { UnsafePointer($0.pointer) }, m)
                if g == chunks - 1 {
                    try finish(state, m)
                } else if let output, let pipeline {
                    try pipeline.send(UnsafeBufferPointer(start: output.pointer, count: count), to: (g + 1) % stages, tag: Self.inferenceTag + g + 1)
                } else {
                    handOff = output
                }
            }
            firstLayer += chunk.blocks.count
        }
    }

    /// Broadcasts `values` from the last stage to every stage (nothing with one stage).
    func shareFromLastStage(_ values: inout [Float]) throws {
        guard parallel.pp > 1, let pipeline = groups?.pipeline else { return }
        try values.withUnsafeMutableBufferPointer { try pipeline.broadcast($0, root: parallel.pp - 1) }
    }

    /// The full-vocabulary logits `[tokens, vocabulary]` of the last forward in `state`, gathered over tp.
    func gatheredLogits(_ state: ChunkState, tokens: Int) throws -> [Float] {
        try [Float](unsafeUninitializedCapacity: tokens * config.vocabularySize) { buffer, count in
            try gatheredLogits(state, tokens: tokens, into: buffer.baseAddress!)
            count = tokens * config.vocabularySize
        }
    }

    /// The full-vocabulary logits of the last forward in `state`, gathered over tp, one array `[vocabulary]` per token.
    /// With tp = 1 each is copied straight from the head's output (one pass, nothing cleared first).
    func gatheredLogitRows(_ state: ChunkState, tokens: Int) throws -> [[Float]] {
        let v = config.vocabularySize, backend = model.context.backend
        let rows = { (source: UnsafePointer<Float>) in
            (0..<tokens).map { t in
                [Float](unsafeUninitializedCapacity: v) { row, count in
                    backend.copy(source + t * v, into: row.baseAddress!, count: v)
                    count = v
                }
            }
        }
        guard model.context.tp.size > 1 else { return rows(state.logits.pointer) }
        return try gatheredLogits(state, tokens: tokens).withUnsafeBufferPointer { rows($0.baseAddress!) }
    }

    /// Writes the full-vocabulary logits of the last forward in `state`, gathered over tp, to
    /// `destination[0 ..< tokens · vocabulary]` (row t at `t · vocabulary`). With tp = 1 the rows are copied straight
    /// from the head's output, so a decoding step allocates nothing here.
    func gatheredLogits(_ state: ChunkState, tokens: Int, into destination: UnsafeMutablePointer<Float>) throws {
        let context = model.context, chunk = model.chunks[model.chunks.count - 1], tp = context.tp.size
        let width = chunk.head!.outFeatures, v = config.vocabularySize
        guard tp > 1 else {
            context.backend.copy(state.logits.pointer, into: destination, count: tokens * v)
            return
        }
        let shares = (0..<tp).map { config.vocabularyShare(tp: tp, rank: $0) }, widest = shares.map(\.count).max()!
        // Gather the vocabulary over tp and keep each rank's own columns; with unequal shares each row is first padded
        // to the widest share. Equal shares (every rank decides alike) gather the head's rows as they are, and the
        // gathered rows are then whole rows of the vocabulary.
        let equal = shares.allSatisfy { $0.count == widest }
        let padded = equal ? nil : FloatBuffer(count: tokens * widest)
        if let padded {
            for t in 0..<tokens { context.backend.copy(state.logits.pointer + t * width, into: padded.pointer + t * widest, count: width) }
        }
        let scratch = FloatBuffer(count: 0)
        try withExtendedLifetime((scratch, padded)) {
            let gathered = try context.mappings.gatherFromTensorRegion.forward(padded?.pointer ?? state.logits.pointer, rows: tokens,
                                                                              columns: widest, scratch: scratch, in: context)
            guard !equal else { return context.backend.copy(gathered, into: destination, count: tokens * v) }
            let full = widest * tp
            for t in 0..<tokens {
                for (r, share) in shares.enumerated() {
                    context.backend.copy(gathered + t * full + r * widest, into: destination + t * v + share.lowerBound, count: share.count)
                }
            }
        }
    }

    /// Point-to-point tags of the inference pipeline, `inferenceTag + model chunk`: above the training executor's
    /// (`0..<2 · microBatches · modelChunks`, in the thousands at most) and inside MPI's guaranteed range (0...32767;
    /// the earlier `1 << 20` made every pp > 1 inference under MPI fail).
    private static let inferenceTag = 30_000
}
