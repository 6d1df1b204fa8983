import TesseraFormats
import TesseraModels
import TesseraTrain

/// What the front end knows of the served model: its name, tokenizer, chat template and limits.
public struct ServedModel: Sendable {
    /// The name clients use (`model` in requests, `/v1/models`).
    public let name: String
    public let tokenizer: any Tokenizer
    public let template: ChatTemplate?
    public let contextLength: Int
    public let vocabularySize: Int
    /// Ids that end a completion and a chat reply.
    public let completionStops: Set<Int32>
    public let chatStops: Set<Int32>

    /// Reads the model's configuration, tokenizer and chat template (not its weights); `contextLimit` serves a shorter
    /// context than the model's.
    /// - Throws: ``TrainingError`` or format errors for a model that cannot be read.
    public init(location: ModelLocation, name: String, contextLimit: Int? = nil) throws {
        let config = try location.config()
        tokenizer = try location.tokenizer().tokenizer
        template = try location.chatTemplate()
        self.name = name
        contextLength = min(config.contextLength, contextLimit ?? config.contextLength)
        vocabularySize = config.vocabularySize
        completionStops = ModelLocation.stopTokens(tokenizer: tokenizer, config: config, chat: false)
        chatStops = ModelLocation.stopTokens(tokenizer: tokenizer, config: config, chat: true)
    }

    /// A model from its parts (tests).
    public init(name: String, tokenizer: any Tokenizer, template: ChatTemplate?, contextLength: Int, stops: Set<Int32>) {
        self.name = name
        self.tokenizer = tokenizer
        self.template = template
        self.contextLength = contextLength
        vocabularySize = tokenizer.vocabularySize
        completionStops = stops
        chatStops = stops
    }

    /// The token ids of each prompt of `request` (a chat's messages rendered by the template).
    /// - Throws: ``APIError`` 400 for an empty prompt, ids outside the vocabulary, a model without a chat template,
    ///   or a prompt that leaves no room in the context.
    package func promptIDs(_ request: GenerationRequest) throws -> [[Int32]] {
        let prompts: [[Int32]]
        do {
            switch request.kind {
            case .completion:
                prompts = try request.prompts.map { prompt in
                    switch prompt {
                    case let .text(text): return try tokenizer.encode(text, addingSpecialTokens: true)
                    case let .tokens(ids): return ids
                    }
                }
            case .chat:
                guard let template else { throw APIError.invalid("messages", "the model \(name) has no chat template; use /v1/completions") }
                prompts = [try tokenizer.encode(try template.render(request.messages))]
            }
        } catch let error as TokenizerError {
            throw APIError.invalid(request.kind == .chat ? "messages" : "prompt", "\(error)")
        }
        for ids in prompts {
            guard !ids.isEmpty else { throw APIError.invalid("prompt", "the prompt is empty; give at least one token") }
            if let bad = ids.first(where: { Int($0) >= vocabularySize }) {
                throw APIError.invalid("prompt", "token id \(bad) is outside the vocabulary of \(vocabularySize) tokens")
            }
            guard ids.count < contextLength else {
                throw APIError.invalid("prompt", "the prompt has \(ids.count) tokens; the model's context is \(contextLength) tokens, so at most \(contextLength - 1) leave room for an answer")
            }
            if let max = request.maxTokens, ids.count + max > contextLength {
                throw APIError.invalid("max_tokens", "the prompt (\(ids.count) tokens) and max_tokens (\(max)) exceed the model's context of \(contextLength) tokens; lower max_tokens to at most \(contextLength - ids.count)")
            }
        }
        return prompts
    }
}
