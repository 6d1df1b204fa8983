extension BPETokenizer {
    /// A Hugging Face tokenizer directory: `tokenizer.json` (with `tokenizer_config.json` for the names of the
    /// BOS/EOS/unknown/padding tokens when present), or else GPT-2's `vocab.json` + `merges.txt`.
    public init(huggingFaceDirectory directory: String) throws {
        let tokenizerJSON = FileSystem.join(directory, "tokenizer.json")
        guard FileSystem.isRegularFile(tokenizerJSON) else {
            try self.init(gpt2Directory: directory)
            return
        }
        let config = FileSystem.join(directory, "tokenizer_config.json")
        try self.init(tokenizerJSON: tokenizerJSON, config: FileSystem.isRegularFile(config) ? config : nil)
    }

    /// A Hugging Face `tokenizer.json` whose model is byte-level BPE: model `BPE` with a `ByteLevel`
    /// pre-tokenizer (alone or in a `Sequence` with `Split` regexes Tessera knows and `Digits`) and a `ByteLevel`
    /// decoder; added tokens (matched before BPE, with `lstrip`/`rstrip`), `byte_fallback`, `ignore_merges`,
    /// and a `TemplateProcessing` post-processor that adds BOS and/or EOS.
    ///
    /// - Parameter config: a `tokenizer_config.json` naming `bos_token`, `eos_token`, `unk_token`, `pad_token`.
    /// - Throws: ``FormatError/unsupportedTokenizer(path:reason:)`` for another model type (WordPiece, Unigram,
    ///   …), a normalizer, or an unknown pre-tokenizer, regex or decoder; ``FormatError/invalidTokenizer(path:reason:)``
    ///   for damaged or inconsistent content.
    public init(tokenizerJSON path: String, config: String? = nil) throws {
        let json = try Self.readJSON(path)
        let parser = TokenizerJSONParser(path: path)
        guard let model = json["model"]?.object else { throw parser.invalid("no \"model\" object") }
        let type = model["type"]?.string ?? "BPE"
        guard type == "BPE" else {
            throw parser.unsupported("model type '\(type)'; Tessera reads byte-level BPE tokenizers only")
        }
        for key in ["dropout", "continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[key], !value.isNull, value != .string("") {
                throw parser.unsupported("BPE \(key) \(value.serialized)")
            }
        }
        if let normalizer = json["normalizer"], !normalizer.isNull {
            throw parser.unsupported("normalizer \(normalizer["type"]?.string ?? normalizer.serialized)")
        }
        guard let vocabObject = model["vocab"]?.object else { throw parser.invalid("the model has no \"vocab\" object") }
        let vocabulary = try Self.vocabulary(vocabObject, path: path)
        let merges = try parser.merges(model["merges"])
        var (preTokenizer, prefixSpace, sawByteLevel) = try parser.preTokenizer(json["pre_tokenizer"] ?? .null)
        guard sawByteLevel else { throw parser.unsupported("the pre-tokenizer has no ByteLevel step; Tessera reads byte-level BPE only") }
        if case let .sequence(stages) = preTokenizer, stages.count == 1 { preTokenizer = stages[0] }
        try parser.checkDecoder(json["decoder"] ?? .null)
        let added = try parser.addedTokens(json["added_tokens"] ?? .array([]))

        func lookup(_ content: String) -> Int32? {
            added.first { $0.content == content }?.id ?? vocabulary[content]
        }
        let template = try parser.postProcessor(json["post_processor"] ?? .null)
        var special = SpecialTokens(addsBOS: template.bos != nil, addsEOS: template.eos != nil)
        special.bos = try template.bos.map { try parser.id(of: $0, lookup) }
        special.eos = try template.eos.map { try parser.id(of: $0, lookup) }
        if let unk = model["unk_token"]?.string { special.unknown = try parser.id(of: unk, lookup) }
        if let config {
            let names = try Self.readJSON(config)
            for (key, slot) in [("bos_token", \SpecialTokens.bos), ("eos_token", \.eos), ("unk_token", \.unknown), ("pad_token", \.padding)] {
                let value = names[key]
                guard let name = value?.string ?? value?["content"]?.string else { continue }
                guard let id = lookup(name) else {
                    throw FormatError.invalidTokenizer(path: config, reason: "\(key) '\(name)' is not a token of \(path)")
                }
                special[keyPath: slot] = id
            }
        }
        try self.init(path: path, vocabulary: vocabulary, merges: merges, preTokenizer: preTokenizer,
                      addedTokens: added, specialTokens: special, addsPrefixSpace: prefixSpace,
                      ignoreMerges: model["ignore_merges"]?.bool ?? false,
                      byteFallback: model["byte_fallback"]?.bool ?? false)
    }

    static func readJSON(_ path: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(FileSystem.readAll(path))
        } catch let error as JSONError {
            throw FormatError.invalidTokenizer(path: path, reason: "not valid JSON (\(error))")
        }
    }
}

/// The pieces of `tokenizer.json` beyond the vocabulary, each checked against what Tessera implements.
struct TokenizerJSONParser {
    let path: String

    func invalid(_ reason: String) -> FormatError { .invalidTokenizer(path: path, reason: reason) }
    func unsupported(_ reason: String) -> FormatError { .unsupportedTokenizer(path: path, reason: reason) }

    func id(of content: String, _ lookup: (String) -> Int32?) throws -> Int32 {
        guard let id = lookup(content) else { throw invalid("special token '\(content)' is not in the vocabulary") }
        return id
    }

    /// Merges as `"left right"` strings (older files) or `["left", "right"]` pairs (newer ones).
    func merges(_ value: JSONValue?) throws -> [(String, String)] {
        guard let list = value?.array else { throw invalid("the model has no \"merges\" array") }
        return try list.enumerated().map { index, merge in
            if let text = merge.string { return try BPETokenizer.mergePair(text, path: path, what: "merge \(index)") }
            guard let pair = merge.array, pair.count == 2, let left = pair[0].string, let right = pair[1].string else {
                throw invalid("merge \(index) \(merge.serialized) is neither 'left right' nor [left, right]")
            }
            return (left, right)
        }
    }

    /// The pre-tokenizer, whether ByteLevel asked for a prefix space, and whether a ByteLevel step was present.
    func preTokenizer(_ value: JSONValue) throws -> (PreTokenizer, prefixSpace: Bool, byteLevel: Bool) {
        guard !value.isNull else { return (.none, false, false) }
        let type = value["type"]?.string ?? "?"
        switch type {
        case "ByteLevel":
            let useRegex = value["use_regex"]?.bool ?? true
            return (useRegex ? .gpt2 : .none, value["add_prefix_space"]?.bool ?? false, true)
        case "Digits":
            return (.digits(individual: value["individual_digits"]?.bool ?? false), false, false)
        case "Split":
            guard value["behavior"]?.string == "Isolated", value["invert"]?.bool != true else {
                throw unsupported("Split with behavior \(value["behavior"]?.serialized ?? "null") and invert \(value["invert"]?.serialized ?? "null"); Tessera implements Isolated, not inverted")
            }
            guard let regex = value["pattern"]?["Regex"]?.string else {
                throw unsupported("Split pattern \(value["pattern"]?.serialized ?? "null"); Tessera implements known regexes only")
            }
            guard let known = PreTokenizer.knownPatterns[regex] else {
                throw unsupported("Split regex \(regex) has no native scanner (known: GPT-2, Llama 3, Qwen 2 patterns)")
            }
            return (known, false, false)
        case "Sequence":
            guard let steps = value["pretokenizers"]?.array else { throw invalid("Sequence pre-tokenizer without \"pretokenizers\"") }
            var stages: [PreTokenizer] = []
            var prefixSpace = false, byteLevel = false
            for step in steps {
                let (stage, prefix, isByteLevel) = try preTokenizer(step)
                // A ByteLevel step without its regex only maps bytes; it does not split.
                if stage != .none { stages.append(stage) }
                prefixSpace = prefixSpace || prefix
                byteLevel = byteLevel || isByteLevel
            }
            return (.sequence(stages), prefixSpace, byteLevel)
        default:
            throw unsupported("pre-tokenizer type '\(type)'")
        }
    }

    func checkDecoder(_ value: JSONValue) throws {
        let type = value["type"]?.string
        if type == "ByteLevel" { return }
        if type == "Sequence", let steps = value["decoders"]?.array, !steps.isEmpty,
           steps.allSatisfy({ $0["type"]?.string == "ByteLevel" }) { return }
        throw unsupported("decoder \(type ?? value.serialized); a byte-level BPE tokenizer needs the ByteLevel decoder")
    }

    func addedTokens(_ value: JSONValue) throws -> [AddedToken] {
        guard let list = value.array else { throw invalid("\"added_tokens\" is not an array") }
        return try list.map { token in
            guard let id = token["id"]?.integer, let id32 = Int32(exactly: id), id32 >= 0,
                  let content = token["content"]?.string, !content.isEmpty
            else { throw invalid("added token \(token.serialized) lacks an id or content") }
            if token["single_word"]?.bool == true {
                throw unsupported("added token '\(content)' is single_word, which Tessera does not implement")
            }
            return AddedToken(id: id32, content: content, isSpecial: token["special"]?.bool ?? false,
                              stripsLeft: token["lstrip"]?.bool ?? false, stripsRight: token["rstrip"]?.bool ?? false)
        }
    }

    /// The special tokens a post-processor puts before (`bos`) and after (`eos`) a single sequence.
    func postProcessor(_ value: JSONValue) throws -> (bos: String?, eos: String?) {
        guard !value.isNull else { return (nil, nil) }
        switch value["type"]?.string {
        case "ByteLevel":
            return (nil, nil)
        case "Sequence":
            var result: (bos: String?, eos: String?) = (nil, nil)
            for step in value["processors"]?.array ?? [] {
                let (bos, eos) = try postProcessor(step)
                result = (bos ?? result.bos, eos ?? result.eos)
            }
            return result
        case "TemplateProcessing":
            guard let single = value["single"]?.array else { throw invalid("TemplateProcessing without \"single\"") }
            var before: [String] = [], after: [String] = [], sawSequence = false
            for item in single {
                if let special = item["SpecialToken"]?["id"]?.string {
                    if sawSequence { after.append(special) } else { before.append(special) }
                } else if item["Sequence"] != nil {
                    sawSequence = true
                } else {
                    throw invalid("TemplateProcessing item \(item.serialized)")
                }
            }
            guard sawSequence, before.count <= 1, after.count <= 1 else {
                throw unsupported("post-processor template \(value["single"]!.serialized); Tessera adds at most one BOS and one EOS")
            }
            return (before.first, after.first)
        default:
            throw unsupported("post-processor \(value["type"]?.string ?? value.serialized)")
        }
    }
}
