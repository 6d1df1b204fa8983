import TesseraModels

/// Autoregressive generation: the model's next-token logits, a ``Sampler``, and a stop condition.
///
/// Every rank of the model's groups runs the same loop with the same prompt and options: the logits are gathered
/// over tp, so every rank sees the same values and draws the same token (no broadcast is needed).
public struct Generator {
    public let engine: TransformerEngine
    public let sampler: Sampler

    public init(engine: TransformerEngine, sampling: SamplingOptions) throws {
        try sampling.validate()
        self.engine = engine
        self.sampler = Sampler(options: sampling)
    }

    /// Up to `maxNewTokens` ids that follow `prompt`, ending early after one of `stopTokens` (which is included).
    ///
    /// When prompt and continuation outgrow the model's context, the model sees the last `contextLength` ids.
    /// - Parameter onToken: called with each new id as it is chosen (to stream the text).
    /// - Throws: ``TrainingError/invalidOption(option:reason:)`` for an empty prompt; ``ModelError`` for ids outside
    ///   the vocabulary; ``CollectiveError``.
    public func generate(prompt: [Int32], maxNewTokens: Int, stopTokens: Set<Int32> = [],
                         onToken: (Int32) throws -> Void = { _ in }) throws -> [Int32] {
        guard !prompt.isEmpty else {
            throw TrainingError.invalidOption(option: "--prompt", reason: "the prompt encodes to no tokens; give some text (or --bos)")
        }
        let context = engine.config.contextLength
        var sequence = prompt, generated: [Int32] = []
        for draw in 0..<max(0, maxNewTokens) {
            let window = Array(sequence.suffix(context))
            let logits = try engine.logits(MicroBatch(tokens: window, targets: nil, batch: 1, length: window.count))
            let vocabulary = engine.config.vocabularySize
            let next = logits.withUnsafeBufferPointer { all in
                sampler.sample(UnsafeBufferPointer(rebasing: all[((window.count - 1) * vocabulary)...]), draw: draw)
            }
            generated.append(next)
            sequence.append(next)
            try onToken(next)
            if stopTokens.contains(next) { break }
        }
        return generated
    }
}
