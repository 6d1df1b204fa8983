import TesseraModels

/// Autoregressive generation: the model's next-token logits, a ``Sampler``, and a stop condition.
///
/// Every rank of the model's groups runs the same loop with the same prompt and options: the logits are gathered
/// over tp, so every rank sees the same values and draws the same token (no broadcast is needed).
public struct Generator {
    public let engine: MeshEngine
    public let sampler: Sampler

    public init(engine: MeshEngine, sampling: SamplingOptions) throws {
        try sampling.validate()
        self.engine = engine
        self.sampler = Sampler(options: sampling)
    }

    /// Up to `maxNewTokens` ids that follow `prompt`, ending early after one of `stopTokens` (which is included).
    ///
    /// Decoding is incremental through the model's key/value caches. Once prompt and continuation fill the model's
    /// context, each further token is predicted from the last `contextLength` ids, recomputed (a sliding window).
    /// - Parameter onToken: called with each new id as it is chosen (to stream the text).
    /// - Throws: ``TrainingError/invalidOption(option:reason:)`` for an empty prompt; ``ModelError`` for ids outside
    ///   the vocabulary; ``CollectiveError``.
    public func generate(prompt: [Int32], maxNewTokens: Int, stopTokens: Set<Int32> = [],
                         onToken: (Int32) throws -> Void = { _ in }) throws -> [Int32] {
        guard !prompt.isEmpty else {
            throw TrainingError.invalidOption(option: "--prompt", reason: "the prompt encodes to no tokens; give some text (or --bos)")
        }
        guard maxNewTokens > 0 else { return [] }
        let context = engine.config.contextLength
        // Room for this run only (at most the context): the caches are allocated whole.
        let caches = engine.makeCaches(capacity: prompt.count + maxNewTokens)
        var sequence = prompt, generated: [Int32] = []
        var logits = try engine.decode(Array(prompt.suffix(context)), caches: caches)
        for draw in 0..<maxNewTokens {
            let next = logits.withUnsafeBufferPointer { sampler.sample($0, draw: draw) }
            generated.append(next)
            sequence.append(next)
            try onToken(next)
            if stopTokens.contains(next) || draw == maxNewTokens - 1 { break }
            if let cache = caches.first, cache.count < cache.capacity {
                logits = try engine.decode([next], caches: caches)
            } else {
                logits = try engine.nextTokenLogits(Array(sequence.suffix(context)))
            }
        }
        return generated
    }
}
