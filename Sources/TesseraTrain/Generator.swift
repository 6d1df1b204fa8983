import TesseraModels
import TesseraParallel
import TesseraTensor

/// Autoregressive generation: the model's next-token logits, a ``Sampler``, and a stop condition.
///
/// Every rank of the model's groups runs the same loop with the same prompts and options: the logits are gathered
/// over tp, so every rank sees the same values and draws the same token (no broadcast is needed).
public struct Generator {
    public let engine: MeshEngine
    public let sampler: Sampler
    /// Most prompt tokens of one sequence per step, and of all sequences together (but at least one sequence's chunk):
    /// a step's activations grow with its rows. Chunk boundaries depend on the sequence alone, so its tokens do not
    /// change with the batch.
    public var prefillChunk = MeshEngine.defaultPrefillChunk
    /// How the key/value cache stores rows (``KVBlockPool/cacheTypes``).
    public var kvCacheType: DType = .f32

    public init(engine: MeshEngine, sampling: SamplingOptions) throws {
        try sampling.validate()
        self.engine = engine
        self.sampler = Sampler(options: sampling)
    }

    /// Up to `maxNewTokens` ids that follow `prompt`, ending early after one of `stopTokens` (which is included):
    /// ``generate(prompts:maxNewTokens:stopTokens:onToken:)`` with one prompt.
    /// - Parameter onToken: called with each new id as it is chosen (to stream the text).
    public func generate(prompt: [Int32], maxNewTokens: Int, stopTokens: Set<Int32> = [],
                         onToken: (Int32) throws -> Void = { _ in }) throws -> [Int32] {
        try generate(prompts: [prompt], maxNewTokens: maxNewTokens, stopTokens: stopTokens) { try onToken($1) }[0]
    }

    /// The continuations of `prompts`, decoded together: each step runs every unfinished sequence's next prompt
    /// chunk or last token in one batched call (``MeshEngine/decode(_:pool:)``), each sequence drawing from its own
    /// logits with its own draw count, so a sequence's tokens are those it gets alone.
    ///
    /// Once prompt and continuation fill the model's context, each further token of that sequence is predicted from
    /// its last `contextLength` ids, recomputed (a sliding window).
    /// - Parameter onToken: called with (prompt index, new id) as each is chosen, in prompt order within a step.
    /// - Throws: ``TrainingError/invalidOption(option:reason:)`` for an empty prompt; ``ModelError`` for ids outside
    ///   the vocabulary; ``CollectiveError``.
    public func generate(prompts: [[Int32]], maxNewTokens: Int, stopTokens: Set<Int32> = [],
                         onToken: (Int, Int32) throws -> Void = { _, _ in }) throws -> [[Int32]] {
        guard !prompts.contains(where: \.isEmpty) else {
            throw TrainingError.invalid(.prompts, "a prompt encodes to no tokens; give some text (or begin it with the BOS id)")
        }
        guard maxNewTokens > 0, !prompts.isEmpty else { return prompts.map { _ in [] } }
        let context = engine.config.contextLength, blockSize = MeshEngine.defaultBlockSize
        let needs = prompts.map { min($0.count + maxNewTokens, context) }
        let pool = try engine.makeBlockPool(blocks: needs.reduce(0) { $0 + ($1 + blockSize - 1) / blockSize },
                                            blockSize: blockSize, longestSequence: needs.max()!, cacheType: kvCacheType)
        var sequences = prompts.map { GeneratingSequence(prompt: $0, context: context) }
        while case let active = sequences.indices.filter({ !sequences[$0].finished }), !active.isEmpty {
            var segments: [DecodeSegment] = [], owners: [Int] = [], logits: [(Int, [Float])] = [], promptRows = 0
            for i in active {
                let chunk = Array(sequences[i].pending.prefix(prefillChunk))
                if chunk.count > 1 {
                    // A prompt chunk waits for a later step once this one has its share of prompt rows.
                    guard promptRows == 0 || promptRows + chunk.count <= prefillChunk else { continue }
                    promptRows += chunk.count
                }
                if sequences[i].table.count + chunk.count <= context {
                    segments.append(DecodeSegment(sequence: sequences[i].table, tokens: chunk))
                    owners.append(i)
                } else {
                    sequences[i].pending = []
                    logits.append((i, try engine.nextTokenLogits(Array(sequences[i].history.suffix(context)))))
                }
            }
            let batched = segments.isEmpty ? [] : try engine.decode(segments, pool: pool)
            for (k, i) in owners.enumerated() {
                sequences[i].pending.removeFirst(segments[k].tokens.count)
                if sequences[i].pending.isEmpty { logits.append((i, batched[k])) }
            }
            for (i, row) in logits.sorted(by: { $0.0 < $1.0 }) {
                let next = row.withUnsafeBufferPointer { sampler.sample($0, draw: sequences[i].generated.count) }
                sequences[i].accept(next, finished: stopTokens.contains(next) || sequences[i].generated.count + 1 == maxNewTokens)
                try onToken(i, next)
                if sequences[i].finished { pool.release(sequences[i].table) }
            }
        }
        return sequences.map(\.generated)
    }
}

/// One prompt's state inside ``Generator/generate(prompts:maxNewTokens:stopTokens:onToken:)``.
private struct GeneratingSequence {
    let table = KVBlockTable()
    /// Tokens chosen or given but not yet run through the model.
    var pending: [Int32]
    /// Prompt and continuation (for the sliding window past the context).
    var history: [Int32]
    var generated: [Int32] = []
    var finished = false

    init(prompt: [Int32], context: Int) {
        pending = Array(prompt.suffix(context))
        history = prompt
    }

    mutating func accept(_ token: Int32, finished: Bool) {
        generated.append(token)
        history.append(token)
        pending = [token]
        self.finished = finished
    }
}
