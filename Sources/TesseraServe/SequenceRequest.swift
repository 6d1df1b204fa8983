import TesseraTrain

/// One sequence to generate, as the scheduler sees it (token ids; text is the front end's business).
public struct SequenceRequest: Sendable {
    public var prompt: [Int32]
    /// Most tokens to generate (at least 1, or 0 to only score the prompt with ``promptLogprobs``);
    /// `prompt.count + maxTokens` must fit the model's context.
    public var maxTokens: Int
    public var sampling: SamplingOptions
    /// Subtracted once from the logit of every token already generated (OpenAI's `presence_penalty`).
    public var presencePenalty: Float
    /// Subtracted from each token's logit once per time it was generated (OpenAI's `frequency_penalty`).
    public var frequencyPenalty: Float
    /// Ids that end the sequence (with finish reason `stop`); the stop id is reported like any token.
    public var stopTokens: Set<Int32>
    /// How many most likely alternatives to report with each token's log-probability; `nil` reports none.
    public var topLogprobs: Int?
    /// How many most likely alternatives to report with each prompt token's log-probability (OpenAI's `echo` with
    /// `logprobs`); `nil` reports none, and the prompt's rows then skip the model's head.
    public var promptLogprobs: Int?

    public init(prompt: [Int32], maxTokens: Int, sampling: SamplingOptions = SamplingOptions(), presencePenalty: Float = 0,
                frequencyPenalty: Float = 0, stopTokens: Set<Int32> = [], topLogprobs: Int? = nil, promptLogprobs: Int? = nil) {
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.stopTokens = stopTokens
        self.topLogprobs = topLogprobs
        self.promptLogprobs = promptLogprobs
    }
}

/// A generated token with its log-probability under the model (log-softmax of the raw logits).
public struct GeneratedToken: Sendable, Equatable {
    public var id: Int32
    /// `nil` unless the request asked for log-probabilities.
    public var logprob: Float?
    /// The most likely tokens at this position, most likely first (ties by id).
    public var top: [TokenLogprob]

    public init(id: Int32, logprob: Float? = nil, top: [TokenLogprob] = []) {
        self.id = id
        self.logprob = logprob
        self.top = top
    }
}

public struct TokenLogprob: Sendable, Equatable {
    public var id: Int32
    public var logprob: Float

    public init(id: Int32, logprob: Float) {
        self.id = id
        self.logprob = logprob
    }
}

/// Why a sequence ended, in OpenAI's words.
public enum FinishReason: String, Sendable, Equatable {
    /// A stop token or stop string.
    case stop
    /// `max_tokens`, or the model's context, reached.
    case length
}

/// What the scheduler tells a sequence's owner, in order: the prompt's log-probabilities when asked, tokens, then
/// exactly one `finished` or `failed` (nothing after a cancellation).
public enum SequenceEvent: Sendable, Equatable {
    /// The prompt's tokens after the first, each scored given the tokens before it (``SequenceRequest/promptLogprobs``),
    /// once the whole prompt has run.
    case prompt([GeneratedToken])
    case token(GeneratedToken)
    case finished(FinishReason)
    case failed(ServeError)
}
