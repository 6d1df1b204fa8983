/// The definition of a byte-level BPE tokenizer in the form both GGUF metadata (`tokenizer.ggml.*`) and Hugging
/// Face files (`tokenizer.json`, `tokenizer_config.json`; GPT-2's `vocab.json` + `merges.txt`) carry, so a
/// tokenizer converts between them: ``init(gguf:)`` / ``init(huggingFaceDirectory:)`` read,
/// ``ggufMetadata`` / ``writeHuggingFaceFiles(toDirectory:)`` write.
///
/// The token list follows llama.cpp's converter (`get_vocab_base` in convert_hf_to_gguf.py): one entry per id,
/// ids the vocabulary skips are `[PAD<id>]` of type ``TokenType/unused``, Hugging Face added tokens are
/// ``TokenType/control`` (special) or ``TokenType/userDefined``. The pre-tokenizer is named as llama.cpp names it
/// (`tokenizer.ggml.pre`: `gpt2`, `smollm`, `llama-bpe`, `qwen2`); what GGUF cannot say (a prefix space, byte
/// fallback, normalizers) is refused with ``FormatError/unsupportedTokenizer(path:reason:)``, never dropped.
public struct BPETokenizerDefinition: Sendable, Equatable {
    /// llama.cpp's token types (`llama_token_type`, gguf-py `TokenType`).
    public enum TokenType: Int, Sendable, Equatable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// Byte-level spelling of each id (`Ġthe`), or the literal text of an added token.
    public var tokens: [String]
    public var tokenTypes: [TokenType]
    /// Merges in rank order, each `"left right"`.
    public var merges: [String]
    /// llama.cpp's name for the pre-tokenizer.
    public var preTokenizer: String
    public var specialTokens: SpecialTokens
    /// The Jinja chat template, carried unchanged.
    public var chatTemplate: String?

    /// The names written for each ``PreTokenizer`` Tessera scans (the first llama.cpp name of each in `llama-vocab.cpp`).
    static let preferredPreTokenizerNames = ["gpt2", "smollm", "llama-bpe", "qwen2"]

    /// The tokenizer of a GGUF file (`tokenizer.ggml.model = gpt2`).
    /// - Throws: what ``BPETokenizer/init(gguf:)`` throws for missing, inconsistent or unsupported metadata.
    public init(gguf file: GGUFFile) throws {
        let tokenizer = try BPETokenizer(gguf: file)
        let m = file.metadata
        tokens = m["tokenizer.ggml.tokens"]!.strings!
        tokenTypes = try (m["tokenizer.ggml.token_type"]?.ints ?? tokens.map { _ in 1 }).map {
            guard let type = TokenType(rawValue: $0) else {
                throw FormatError.invalidTokenizer(path: file.path, reason: "tokenizer.ggml.token_type holds \($0), not a llama.cpp token type 1…6")
            }
            return type
        }
        merges = m["tokenizer.ggml.merges"]!.strings!
        preTokenizer = m["tokenizer.ggml.pre"]?.string ?? "gpt2"
        specialTokens = tokenizer.specialTokens
        chatTemplate = m["tokenizer.chat_template"]?.string
    }

    /// The tokenizer of a Hugging Face directory: `tokenizer.json` (with `tokenizer_config.json` for special-token
    /// names and the chat template), or GPT-2's `vocab.json` + `merges.txt`.
    /// - Throws: what ``BPETokenizer/init(huggingFaceDirectory:)`` throws; ``FormatError/unsupportedTokenizer(path:reason:)``
    ///   for a pre-tokenizer without a llama.cpp name, a prefix space or byte fallback.
    public init(huggingFaceDirectory directory: String) throws {
        let tokenizer = try BPETokenizer(huggingFaceDirectory: directory)
        let tokenizerJSON = FileSystem.join(directory, "tokenizer.json")
        let path = FileSystem.isRegularFile(tokenizerJSON) ? tokenizerJSON : directory
        func unsupported(_ reason: String) -> FormatError { .unsupportedTokenizer(path: path, reason: reason + "; GGUF cannot carry it, write a Hugging Face directory instead") }
        guard let pre = Self.preferredPreTokenizerNames.first(where: { BPETokenizer.ggufPreTokenizers[$0] == tokenizer.preTokenizer }) else {
            throw unsupported("the pre-tokenizer \(tokenizer.preTokenizer) has no llama.cpp name")
        }
        guard !tokenizer.addsPrefixSpace else { throw unsupported("ByteLevel add_prefix_space") }
        guard tokenizer.model.fallbackTokens.allSatisfy(\.isEmpty) else { throw unsupported("byte_fallback") }

        let vocabulary: [String: Int32], mergePairs: [(String, String)]
        if path == tokenizerJSON {
            let json = try BPETokenizer.readJSON(path)
            vocabulary = try BPETokenizer.vocabulary(json["model"]!["vocab"]!.object!, path: path)
            mergePairs = try TokenizerJSONParser(path: path).merges(json["model"]?["merges"])
        } else {
            let files = BPETokenizer.gpt2Files(in: directory)
            vocabulary = try BPETokenizer.readVocabulary(files.vocabulary)
            mergePairs = try BPETokenizer.readMerges(files.merges)
        }
        let added = Dictionary(tokenizer.addedTokens.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let spellings = Dictionary(vocabulary.map { ($1, $0) }, uniquingKeysWith: min)
        let count = Int(max(vocabulary.values.max() ?? -1, added.keys.max() ?? -1)) + 1
        tokens = (0..<count).map { id in added[Int32(id)]?.content ?? spellings[Int32(id)] ?? "[PAD\(id)]" }
        tokenTypes = (0..<count).map { id in
            if let token = added[Int32(id)] { return token.isSpecial ? .control : .userDefined }
            return spellings[Int32(id)] == nil ? .unused : .normal
        }
        for (left, right) in mergePairs where left.contains(" ") || right.contains(" ") {
            throw unsupported("merge '\(left)' + '\(right)' holds a space")
        }
        merges = mergePairs.map { "\($0.0) \($0.1)" }
        preTokenizer = pre
        specialTokens = tokenizer.specialTokens
        chatTemplate = try ChatTemplate.huggingFaceSource(inDirectory: directory)?.template
    }

    /// Pads the token list with `[PAD<id>]` entries of type ``TokenType/unused`` up to `vocabularySize` (a model's
    /// embedding may have more rows than the tokenizer has tokens; llama.cpp lists one token per row).
    public func padded(toVocabularySize vocabularySize: Int) -> BPETokenizerDefinition {
        var copy = self
        for id in tokens.count..<max(tokens.count, vocabularySize) {
            copy.tokens.append("[PAD\(id)]")
            copy.tokenTypes.append(.unused)
        }
        return copy
    }

    /// The `tokenizer.ggml.*` and `tokenizer.chat_template` metadata llama.cpp's converter writes.
    public var ggufMetadata: [(key: String, value: GGUFValue)] {
        var pairs: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(preTokenizer)),
            ("tokenizer.ggml.tokens", .array(elementType: .string, values: tokens.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(elementType: .int32, values: tokenTypes.map { .int32(Int32($0.rawValue)) })),
            ("tokenizer.ggml.merges", .array(elementType: .string, values: merges.map { .string($0) })),
        ]
        let ids: [(String, Int32?)] = [("bos_token_id", specialTokens.bos), ("eos_token_id", specialTokens.eos),
                                       ("unknown_token_id", specialTokens.unknown), ("padding_token_id", specialTokens.padding)]
        for (key, id) in ids { if let id { pairs.append(("tokenizer.ggml.\(key)", .uint32(UInt32(id)))) } }
        pairs.append(("tokenizer.ggml.add_bos_token", .bool(specialTokens.addsBOS)))
        pairs.append(("tokenizer.ggml.add_eos_token", .bool(specialTokens.addsEOS)))
        if let chatTemplate { pairs.append(("tokenizer.chat_template", .string(chatTemplate))) }
        return pairs
    }

    /// The text a token id stands for: an added token's literal text, else its decoded bytes.
    func text(of id: Int32) -> String {
        let token = tokens[Int(id)]
        switch tokenTypes[Int(id)] {
        case .control, .userDefined, .unused: return token
        default: return ByteLevel.decode(token).map { String(decoding: $0, as: UTF8.self) } ?? token
        }
    }
}
