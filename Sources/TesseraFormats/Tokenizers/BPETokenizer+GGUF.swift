extension BPETokenizer {
    /// The tokenizer stored in a GGUF file by llama.cpp's converter (`tokenizer.ggml.*`), for byte-level BPE
    /// (`tokenizer.ggml.model = gpt2`): `tokens`, `merges`, `token_type` (control and user-defined tokens are
    /// matched literally, control ones are special), `bos/eos/unknown/padding_token_id`, `add_bos/eos_token`, and
    /// `pre` naming the pre-tokenizer regexes (llama.cpp's `llama-vocab.cpp` table).
    /// - Throws: ``FormatError/unsupportedTokenizer(path:reason:)`` for another model (e.g. SentencePiece `llama`)
    ///   or an unknown `pre`; ``FormatError/invalidTokenizer(path:reason:)`` for missing or inconsistent keys.
    public init(gguf file: GGUFFile) throws {
        let path = file.path
        let m = file.metadata
        func invalid(_ reason: String) -> FormatError { .invalidTokenizer(path: path, reason: reason) }
        guard let model = m["tokenizer.ggml.model"]?.string else { throw invalid("no tokenizer.ggml.model key") }
        guard model == "gpt2" else {
            throw FormatError.unsupportedTokenizer(path: path, reason: "tokenizer.ggml.model '\(model)' is not byte-level BPE ('gpt2'), the only GGUF tokenizer Tessera reads")
        }
        guard let tokens = m["tokenizer.ggml.tokens"]?.strings else { throw invalid("tokenizer.ggml.tokens is not an array of strings") }
        guard let mergeTexts = m["tokenizer.ggml.merges"]?.strings else { throw invalid("tokenizer.ggml.merges is not an array of strings") }
        let types = m["tokenizer.ggml.token_type"]?.ints ?? [Int](repeating: 1, count: tokens.count)
        guard types.count == tokens.count else {
            throw invalid("tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        let pre = m["tokenizer.ggml.pre"]?.string ?? "gpt2"
        guard let preTokenizer = Self.ggufPreTokenizers[pre] else {
            let known = Self.ggufPreTokenizers.keys.sorted().joined(separator: ", ")
            throw FormatError.unsupportedTokenizer(path: path, reason: "tokenizer.ggml.pre '\(pre)' is not one Tessera scans (known: \(known))")
        }
        var vocabulary = [String: Int32](minimumCapacity: tokens.count)
        var added: [AddedToken] = []
        for (id, token) in tokens.enumerated() {
            // llama.cpp token types: 3 control, 4 user-defined (both matched literally in text).
            if types[id] == 3 || types[id] == 4 {
                added.append(AddedToken(id: Int32(id), content: token, isSpecial: types[id] == 3))
            }
            if vocabulary[token] == nil { vocabulary[token] = Int32(id) }
        }
        let merges = try mergeTexts.enumerated().map { try Self.mergePair($0.element, path: path, what: "merge \($0.offset)") }
        func id(_ key: String) throws -> Int32? {
            guard let value = m["tokenizer.ggml.\(key)"] else { return nil }
            guard let id = value.int, let id32 = Int32(exactly: id), id32 >= 0, Int(id32) < tokens.count else {
                throw invalid("tokenizer.ggml.\(key) \(value) is not a token id below \(tokens.count)")
            }
            return id32
        }
        let special = SpecialTokens(
            bos: try id("bos_token_id"), eos: try id("eos_token_id"), unknown: try id("unknown_token_id"),
            padding: try id("padding_token_id"),
            addsBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? false,
            addsEOS: m["tokenizer.ggml.add_eos_token"]?.bool ?? false)
        try self.init(path: path, vocabulary: vocabulary, merges: merges, preTokenizer: preTokenizer,
                      addedTokens: added, specialTokens: special)
    }

    /// llama.cpp's `tokenizer.ggml.pre` names whose regexes Tessera scans (see llama-vocab.cpp).
    static let ggufPreTokenizers: [String: PreTokenizer] = {
        let digitsThenGPT2 = PreTokenizer.sequence([.digits(individual: true), .gpt2])
        return [
            "gpt2": .gpt2, "gpt-2": .gpt2,
            "smollm": digitsThenGPT2, "starcoder": digitsThenGPT2, "refact": digitsThenGPT2,
            "llama3": .llama3(maximumDigits: 3), "llama-v3": .llama3(maximumDigits: 3), "llama-bpe": .llama3(maximumDigits: 3),
            "qwen2": .llama3(maximumDigits: 1), "stablelm2": .llama3(maximumDigits: 1),
        ]
    }()
}
