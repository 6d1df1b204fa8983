import TesseraFiles

extension BPETokenizerDefinition {
    /// Writes the tokenizer as Hugging Face files into `directory` (created if needed), each atomically:
    /// `tokenizer.json` (byte-level BPE: the named pre-tokenizer's `Split`/`Digits`/`ByteLevel` steps, a
    /// `TemplateProcessing` post-processor when BOS/EOS are added, control and user-defined tokens as added tokens),
    /// `tokenizer_config.json` (special-token names, chat template) and, for the GPT-2 pre-tokenizer, GPT-2's
    /// `vocab.json` + `merges.txt`. ``BPETokenizer/init(huggingFaceDirectory:)`` and transformers'
    /// `PreTrainedTokenizerFast` read them back.
    /// - Returns: the file names written.
    /// - Throws: ``FormatError/unsupportedTokenizer(path:reason:)`` for a pre-tokenizer name Tessera does not know;
    ///   ``FileWriteError`` when a file cannot be written.
    @discardableResult
    public func writeHuggingFaceFiles(toDirectory directory: String) throws -> [String] {
        guard let pre = BPETokenizer.ggufPreTokenizers[preTokenizer] else {
            throw FormatError.unsupportedTokenizer(path: directory, reason: "pre-tokenizer '\(preTokenizer)' has no Hugging Face form in Tessera")
        }
        try FileSystem.createDirectory(directory)
        var vocabulary: [JSONObject.Member] = [], seen = Set<String>()
        for (id, token) in tokens.enumerated() where tokenTypes[id] != .unused && seen.insert(token).inserted {
            vocabulary.append(.init(key: token, value: .integer(Int64(id))))
        }
        var files: [(String, String)] = [
            ("tokenizer.json", tokenizerJSON(pre, vocabulary: vocabulary).serialized + "\n"),
            ("tokenizer_config.json", tokenizerConfigJSON.serialized + "\n"),
        ]
        if pre == .gpt2 {
            files.append(("vocab.json", JSONValue.object(JSONObject(vocabulary)).serialized + "\n"))
            files.append(("merges.txt", (["#version: 0.2"] + merges).joined(separator: "\n") + "\n"))
        }
        for (name, text) in files { try AtomicWrite.write(text, to: FileSystem.join(directory, name)) }
        return files.map(\.0)
    }

    private func tokenizerJSON(_ pre: PreTokenizer, vocabulary: [JSONObject.Member]) -> JSONValue {
        let added: [JSONValue] = tokens.indices.compactMap { id in
            guard tokenTypes[id] == .control || tokenTypes[id] == .userDefined else { return nil }
            return object([("id", .integer(Int64(id))), ("content", .string(tokens[id])), ("single_word", .bool(false)),
                           ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(tokenTypes[id] != .control)),
                           ("special", .bool(tokenTypes[id] == .control))])
        }
        let model = object([
            ("type", .string("BPE")), ("dropout", .null), ("unk_token", specialTokens.unknown.map { .string(text(of: $0)) } ?? .null),
            ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)),
            ("byte_fallback", .bool(false)), ("ignore_merges", .bool(pre == .llama3(maximumDigits: 3))),
            ("vocab", .object(JSONObject(vocabulary))),
            ("merges", .array(merges.map { merge in .array(merge.split(separator: " ").map { .string(String($0)) }) })),
        ])
        return object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(added)),
            ("normalizer", .null), ("pre_tokenizer", Self.preTokenizerJSON(pre)), ("post_processor", postProcessorJSON),
            ("decoder", Self.byteLevel(addPrefixSpace: true, trimOffsets: true, useRegex: true)), ("model", model),
        ])
    }

    /// The pre-tokenizer steps in `tokenizer.json` form; byte-level mapping without splitting is added after a regex `Split`.
    private static func preTokenizerJSON(_ pre: PreTokenizer) -> JSONValue {
        var steps: [JSONValue] = [], mapsBytes = false
        for stage in pre.stages {
            switch stage {
            case .gpt2:
                steps.append(byteLevel(addPrefixSpace: false, trimOffsets: true, useRegex: true))
                mapsBytes = true
            case let .digits(individual):
                steps.append(object([("type", .string("Digits")), ("individual_digits", .bool(individual))]))
            default:
                let pattern = PreTokenizer.knownPatterns.first { $0.value == stage }!.key
                steps.append(object([("type", .string("Split")), ("pattern", object([("Regex", .string(pattern))])),
                                     ("behavior", .string("Isolated")), ("invert", .bool(false))]))
            }
        }
        if !mapsBytes { steps.append(byteLevel(addPrefixSpace: false, trimOffsets: true, useRegex: false)) }
        return steps.count == 1 ? steps[0] : object([("type", .string("Sequence")), ("pretokenizers", .array(steps))])
    }

    /// `TemplateProcessing` adding BOS and/or EOS around each sequence, or a plain `ByteLevel` post-processor.
    private var postProcessorJSON: JSONValue {
        let bos = specialTokens.addsBOS ? specialTokens.bos : nil, eos = specialTokens.addsEOS ? specialTokens.eos : nil
        guard bos != nil || eos != nil else { return Self.byteLevel(addPrefixSpace: true, trimOffsets: false, useRegex: true) }
        func special(_ id: Int32, _ type: Int) -> JSONValue {
            object([("SpecialToken", object([("id", .string(text(of: id))), ("type_id", .integer(Int64(type)))]))])
        }
        func sequence(_ name: String, _ type: Int) -> JSONValue {
            object([("Sequence", object([("id", .string(name)), ("type_id", .integer(Int64(type)))]))])
        }
        func around(_ name: String, _ type: Int) -> [JSONValue] {
            [bos.map { special($0, type) }, sequence(name, type), eos.map { special($0, type) }].compactMap { $0 }
        }
        let specials = Set([bos, eos].compactMap { $0 }).sorted().map { id in
            JSONObject.Member(key: text(of: id), value: object([("id", .string(text(of: id))), ("ids", .array([.integer(Int64(id))])),
                                                                ("tokens", .array([.string(text(of: id))]))]))
        }
        return object([("type", .string("TemplateProcessing")), ("single", .array(around("A", 0))),
                       ("pair", .array(around("A", 0) + around("B", 1))), ("special_tokens", .object(JSONObject(specials)))])
    }

    private var tokenizerConfigJSON: JSONValue {
        var members: [(String, JSONValue)] = [("add_bos_token", .bool(specialTokens.addsBOS)), ("add_eos_token", .bool(specialTokens.addsEOS))]
        let names: [(String, Int32?)] = [("bos_token", specialTokens.bos), ("eos_token", specialTokens.eos),
                                         ("unk_token", specialTokens.unknown), ("pad_token", specialTokens.padding)]
        for (key, id) in names { if let id { members.append((key, .string(text(of: id)))) } }
        if let chatTemplate { members.append(("chat_template", .string(chatTemplate))) }
        members += [("clean_up_tokenization_spaces", .bool(false)), ("tokenizer_class", .string("PreTrainedTokenizerFast"))]
        return object(members)
    }

    private static func byteLevel(addPrefixSpace: Bool, trimOffsets: Bool, useRegex: Bool) -> JSONValue {
        object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(addPrefixSpace)), ("trim_offsets", .bool(trimOffsets)),
                ("use_regex", .bool(useRegex))])
    }
}

/// A JSON object with members in the given order.
private func object(_ members: [(String, JSONValue)]) -> JSONValue {
    .object(JSONObject(members.map { JSONObject.Member(key: $0.0, value: $0.1) }))
}
