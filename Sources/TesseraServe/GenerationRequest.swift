import TesseraFormats
import TesseraTrain

/// A prompt as a request gives it.
package enum PromptInput: Equatable {
    case text(String)
    case tokens([Int32])
}

/// A `/v1/completions` or `/v1/chat/completions` body, decoded and checked (everything but the model-dependent
/// checks: token ids against the vocabulary, lengths against the context).
package struct GenerationRequest {
    package enum Kind: Equatable { case completion, chat }

    /// Most choices per prompt (`n`), most stop strings, most alternatives per token (`top_logprobs`).
    package static let maxChoices = 16, maxStopStrings = 4, maxTopLogprobs = 20

    package var kind: Kind
    package var model: String?
    /// Completions: one or more prompts. Chat: empty (see ``messages``).
    package var prompts: [PromptInput] = []
    package var messages: [ChatMessage] = []
    /// `nil`: ``defaultMaxTokens(promptLength:contextLength:)``.
    package var maxTokens: Int?
    package var temperature: Float = 1
    package var topP: Float?
    package var topK: Int?
    /// `nil`: each choice draws from a fresh random seed.
    package var seed: UInt64?
    package var presencePenalty: Float = 0
    package var frequencyPenalty: Float = 0
    package var stop: [String] = []
    package var n = 1
    package var stream = false
    package var includeUsage = false
    /// `nil`: no log-probabilities; otherwise how many alternatives per token.
    package var logprobs: Int?
    package var echo = false

    /// - Throws: ``APIError`` 400 naming the field for JSON that is not a valid request of `kind`.
    package init(body: [UInt8], kind: Kind) throws {
        let fields = try RequestFields(body: body)
        self.kind = kind
        model = try fields.string("model")
        switch kind {
        case .completion:
            prompts = try Self.prompts(fields.value("prompt"))
            logprobs = try fields.integer("logprobs", in: 0...Self.maxTopLogprobs)
            echo = try fields.bool("echo") ?? false
        case .chat:
            messages = try Self.messages(fields.value("messages"))
            if try fields.bool("logprobs") == true {
                logprobs = try fields.integer("top_logprobs", in: 0...Self.maxTopLogprobs) ?? 0
            } else if fields.value("top_logprobs") != nil {
                throw APIError.invalid("top_logprobs", "'top_logprobs' needs 'logprobs': true")
            }
        }
        maxTokens = try fields.integer("max_completion_tokens", in: 0...Int(Int32.max)) ?? fields.integer("max_tokens", in: 0...Int(Int32.max))
        if maxTokens == 0, !(echo && logprobs != nil) {
            throw APIError.invalid("max_tokens", "'max_tokens' 0 only scores a prompt (with 'echo': true and 'logprobs'); ask for at least 1 token")
        }
        temperature = try fields.number("temperature", in: 0...2) ?? 1
        topP = try fields.number("top_p", in: Double.leastNonzeroMagnitude...1)
        let topK = try fields.integer("top_k", in: -1...Int(Int32.max))
        self.topK = topK.flatMap { $0 > 0 ? $0 : nil }
        seed = try fields.value("seed").map { value in
            guard let integer = value.integer else { throw APIError.invalid("seed", "'seed' must be an integer") }
            return UInt64(bitPattern: integer)
        }
        presencePenalty = try fields.number("presence_penalty", in: -2...2) ?? 0
        frequencyPenalty = try fields.number("frequency_penalty", in: -2...2) ?? 0
        stop = try fields.stopStrings(limit: Self.maxStopStrings)
        n = try fields.integer("n", in: 1...Self.maxChoices) ?? 1
        stream = try fields.bool("stream") ?? false
        if let options = fields.value("stream_options") {
            guard let object = options.object else { throw APIError.invalid("stream_options", "'stream_options' must be an object") }
            guard stream else { throw APIError.invalid("stream_options", "'stream_options' is only allowed with 'stream': true") }
            includeUsage = try RequestFields(object: object).bool("include_usage") ?? false
        }
    }

    /// The length limit of a request without `max_tokens`: OpenAI's 16 for completions; for chat what the context
    /// leaves, but at most 1024 (each sequence's key/value cache is allocated for its whole length up front).
    package func defaultMaxTokens(promptLength: Int, contextLength: Int) -> Int {
        kind == .completion ? min(16, contextLength - promptLength) : min(1024, contextLength - promptLength)
    }

    /// The sampling options of choice `index` (a seeded request gives choice i the seed + i, so choices differ and
    /// each is reproducible).
    package func sampling(choice index: Int) -> SamplingOptions {
        let base = seed ?? UInt64.random(in: 0...UInt64.max)
        return SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: base &+ UInt64(index))
    }

    /// `prompt`: a string, a list of strings, a list of token ids, or a list of such lists.
    private static func prompts(_ value: JSONValue?) throws -> [PromptInput] {
        guard let value else { throw APIError.invalid("prompt", "'prompt' is required") }
        if let text = value.string { return [.text(text)] }
        guard let array = value.array, !array.isEmpty else {
            throw APIError.invalid("prompt", "'prompt' must be a string, a list of strings, or a list of token ids, and not empty")
        }
        if array.allSatisfy({ $0.string != nil }) { return array.compactMap(\.string).map(PromptInput.text) }
        if let ids = try? tokenIDs(array) { return [.tokens(ids)] }
        return try array.map { element in
            guard let list = element.array else {
                throw APIError.invalid("prompt", "'prompt' must be a string, a list of strings, or a list of token ids")
            }
            return .tokens(try tokenIDs(list))
        }
    }

    private static func tokenIDs(_ array: [JSONValue]) throws -> [Int32] {
        try array.map { element in
            guard let integer = element.integer, let id = Int32(exactly: integer), id >= 0 else {
                throw APIError.invalid("prompt", "token ids in 'prompt' must be non-negative integers")
            }
            return id
        }
    }

    /// `messages`: a non-empty list of `{role, content}` with string content (or a list of text parts).
    private static func messages(_ value: JSONValue?) throws -> [ChatMessage] {
        guard let array = value?.array, !array.isEmpty else {
            throw APIError.invalid("messages", "'messages' must be a non-empty list of {\"role\", \"content\"} objects")
        }
        return try array.enumerated().map { index, message in
            guard let role = message["role"]?.string else {
                throw APIError.invalid("messages", "messages[\(index)] needs a string 'role'")
            }
            if let content = message["content"]?.string { return ChatMessage(role: role, content: content) }
            guard let parts = message["content"]?.array, parts.allSatisfy({ $0["type"]?.string == "text" && $0["text"]?.string != nil }) else {
                throw APIError.invalid("messages", "messages[\(index)] needs 'content': a string or a list of {\"type\": \"text\", \"text\": …} parts")
            }
            return ChatMessage(role: role, content: parts.compactMap { $0["text"]?.string }.joined())
        }
    }
}
