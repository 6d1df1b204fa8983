/// One turn of a conversation.
public struct ChatMessage: Sendable, Equatable, Codable {
    /// "system", "user", "assistant" (or another role the template accepts).
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A checkpoint's chat template, recognized by family and rendered natively (Tessera has no Jinja engine).
///
/// Families are detected from the template text; a template that matches none is refused
/// (``TokenizerError/unsupportedChatTemplate(excerpt:)``) rather than rendered wrongly.
public struct ChatTemplate: Sendable, Equatable {
    public enum Family: Sendable, Equatable {
        /// ChatML: `<|im_start|>{role}\n{content}<|im_end|>\n` per turn, `<|im_start|>assistant\n` to prompt
        /// (SmolLM2, Qwen 2). `defaultSystem` is the system turn the template inserts when the conversation does
        /// not begin with one.
        case chatML(defaultSystem: String?)
        /// Llama 3: BOS, then `<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>` per turn,
        /// `<|start_header_id|>assistant<|end_header_id|>\n\n` to prompt.
        case llama3(bos: String)
    }

    public let family: Family
    /// The Jinja text as the checkpoint stores it.
    public let source: String

    /// Recognizes `source`.
    /// - Parameter bosToken: the BOS token's text, needed by templates that start with it (Llama 3).
    /// - Throws: ``TokenizerError/unsupportedChatTemplate(excerpt:)``.
    public init(_ source: String, bosToken: String? = nil) throws {
        self.source = source
        let compact = source.filter { !$0.isWhitespace }
        if source.contains("<|im_start|>"), source.contains("<|im_end|>"), compact.contains("message['role']") || compact.contains("message.role"),
           compact.contains("message['content']") || compact.contains("message.content") {
            family = .chatML(defaultSystem: Self.chatMLDefaultSystem(source))
        } else if source.contains("<|start_header_id|>"), source.contains("<|end_header_id|>"), source.contains("<|eot_id|>"),
                  !source.contains("Cutting Knowledge Date"), !source.contains("tools"), let bosToken {
            family = .llama3(bos: bosToken)
        } else {
            throw TokenizerError.unsupportedChatTemplate(excerpt: String(source.prefix(120)))
        }
    }

    /// The template stored in a GGUF file (`tokenizer.chat_template`), or `nil` when it has none.
    public init?(gguf file: GGUFFile) throws {
        guard let source = file.metadata["tokenizer.chat_template"]?.string else { return nil }
        let tokens = file.metadata["tokenizer.ggml.tokens"]?.strings
        let bos = file.metadata["tokenizer.ggml.bos_token_id"]?.int.flatMap { id in tokens.flatMap { id < $0.count ? $0[id] : nil } }
        try self.init(source, bosToken: bos)
    }

    /// The template in a Hugging Face directory's `tokenizer_config.json` (`chat_template`, a string or a list of
    /// `{name, template}` where `default` is used), or `nil` when there is none.
    public init?(huggingFaceDirectory directory: String) throws {
        guard let (source, bos) = try Self.huggingFaceSource(inDirectory: directory) else { return nil }
        try self.init(source, bosToken: bos)
    }

    /// The template text and BOS token name in a directory's `tokenizer_config.json`, or `nil` without a template.
    static func huggingFaceSource(inDirectory directory: String) throws -> (template: String, bosToken: String?)? {
        let path = FileSystem.join(directory, "tokenizer_config.json")
        guard FileSystem.isRegularFile(path) else { return nil }
        let config = try BPETokenizer.readJSON(path)
        let value = config["chat_template"]
        let source = value?.string
            ?? value?.array?.first(where: { $0["name"]?.string == "default" })?["template"]?.string
        guard let source else { return nil }
        return (source, config["bos_token"]?.string ?? config["bos_token"]?["content"]?.string)
    }

    /// The prompt text for `messages`; with `addGenerationPrompt` it ends where the assistant's reply begins.
    /// - Throws: ``TokenizerError/invalidConversation(reason:)`` for an empty role or one with whitespace.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        for message in messages where message.role.isEmpty || message.role.contains(where: \.isWhitespace) {
            throw TokenizerError.invalidConversation(reason: "role '\(message.role)' must be a non-empty word such as user")
        }
        var out = ""
        switch family {
        case let .chatML(defaultSystem):
            if let defaultSystem, let first = messages.first, first.role != "system" {
                out += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
            }
            for message in messages { out += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case let .llama3(bos):
            for (i, message) in messages.enumerated() {
                if i == 0 { out += bos }
                out += "<|start_header_id|>\(message.role)<|end_header_id|>\n\n\(Self.trimmed(message.content))<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        }
        return out
    }

    /// The literal system text of `'<|im_start|>system\n…<|im_end|>` when the template inserts it for conversations
    /// that do not begin with a system turn.
    private static func chatMLDefaultSystem(_ source: String) -> String? {
        let compact = source.filter { !$0.isWhitespace }
        guard compact.contains("messages[0]['role']!='system'") || compact.contains("messages[0].role!='system'"),
              let start = source.firstRange(of: "'<|im_start|>system\n")?.upperBound,
              let end = source[start...].firstRange(of: "<|im_end|>")?.lowerBound
        else { return nil }
        let text = String(source[start..<end])
        return text.contains(where: { "'\"{}+".contains($0) }) ? nil : text
    }

    /// Jinja's `trim` (Python's `str.strip()`): whitespace removed from both ends.
    private static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
