extension BPETokenizer {
    /// OpenAI's GPT-2 files: `encoder.json` (token → id) and `vocab.bpe` (a `#version` line, then one merge
    /// `left right` per line). A Hugging Face GPT-2 directory's `vocab.json` and `merges.txt` are the same files.
    /// `<|endoftext|>` is the special BOS/EOS/unknown token, as `GPT2TokenizerFast` has it; encoding adds neither.
    /// - Throws: ``FormatError/io(path:operation:message:)``, ``FormatError/invalidTokenizer(path:reason:)``.
    public init(encoderJSON: String, vocabBPE: String) throws {
        let vocabulary = try Self.readVocabulary(encoderJSON)
        let merges = try Self.readMerges(vocabBPE)
        let endOfText: Int32? = vocabulary["<|endoftext|>"]
        try self.init(
            path: encoderJSON, vocabulary: vocabulary, merges: merges, preTokenizer: .gpt2,
            addedTokens: endOfText.map { [AddedToken(id: $0, content: "<|endoftext|>", isSpecial: true)] } ?? [],
            specialTokens: SpecialTokens(bos: endOfText, eos: endOfText, unknown: endOfText))
    }

    /// A GPT-2 style directory: `vocab.json` + `merges.txt`, or `encoder.json` + `vocab.bpe`.
    public init(gpt2Directory directory: String) throws {
        let files = Self.gpt2Files(in: directory)
        try self.init(encoderJSON: files.vocabulary, vocabBPE: files.merges)
    }

    /// A GPT-2 directory's vocabulary and merges files: Hugging Face's names if present, else OpenAI's.
    static func gpt2Files(in directory: String) -> (vocabulary: String, merges: String) {
        let hf = (FileSystem.join(directory, "vocab.json"), FileSystem.join(directory, "merges.txt"))
        let openAI = (FileSystem.join(directory, "encoder.json"), FileSystem.join(directory, "vocab.bpe"))
        return FileSystem.isRegularFile(hf.0) ? hf : openAI
    }

    static func readVocabulary(_ path: String) throws -> [String: Int32] {
        let json: JSONValue
        do {
            json = try JSONValue.parse(FileSystem.readAll(path))
        } catch let error as JSONError {
            throw FormatError.invalidTokenizer(path: path, reason: "not valid JSON (\(error))")
        }
        guard let object = json.object else { throw FormatError.invalidTokenizer(path: path, reason: "not a JSON object of token ids") }
        return try vocabulary(object, path: path)
    }

    static func vocabulary(_ object: JSONObject, path: String) throws -> [String: Int32] {
        var vocabulary = [String: Int32](minimumCapacity: object.count)
        for member in object.members {
            guard let id = member.value.integer, let id32 = Int32(exactly: id), id32 >= 0 else {
                throw FormatError.invalidTokenizer(path: path, reason: "token '\(member.key)' has id \(member.value.serialized), not a non-negative 32-bit integer")
            }
            vocabulary[member.key] = id32
        }
        return vocabulary
    }

    static func readMerges(_ path: String) throws -> [(String, String)] {
        let bytes = try FileSystem.readAll(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw FormatError.invalidTokenizer(path: path, reason: "the merges file is not UTF-8")
        }
        var merges: [(String, String)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || (number == 0 && line.hasPrefix("#version")) { continue }
            merges.append(try mergePair(String(line), path: path, what: "line \(number + 1)"))
        }
        return merges
    }

    /// `"left right"` → `(left, right)`.
    static func mergePair(_ text: String, path: String, what: String) throws -> (String, String) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw FormatError.invalidTokenizer(path: path, reason: "\(what) '\(text)' is not a merge 'left right'")
        }
        return (String(parts[0]), String(parts[1]))
    }
}
