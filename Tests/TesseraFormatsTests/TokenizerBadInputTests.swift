import Foundation
import Testing
import TesseraFormats

/// Damaged or unsupported tokenizer files, each built from a valid one: a typed error naming the file and problem.
@Suite struct TokenizerBadInputTests {
    static let tinyJSON = String(decoding: try! Data(contentsOf: URL(fileURLWithPath: Locations.fixtures + "/tiny-qwen2/tokenizer.json")), as: UTF8.self)

    /// Writes `text` as tokenizer.json and expects loading to throw the error `check` accepts.
    func expectRefused(_ text: String, mentioning phrase: String, unsupported: Bool) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write(Array(text.utf8), to: "tokenizer.json")
        do {
            _ = try BPETokenizer(tokenizerJSON: path)
            Issue.record("expected an error mentioning \(phrase)")
        } catch let error as FormatError {
            switch error {
            case let .unsupportedTokenizer(errorPath, reason) where unsupported, let .invalidTokenizer(errorPath, reason) where !unsupported:
                #expect(errorPath == path)
                #expect(reason.contains(phrase), "\(reason)")
            default:
                Issue.record("unexpected \(error)")
            }
        }
    }

    func replacing(_ target: String, _ replacement: String) -> String {
        precondition(Self.tinyJSON.contains(target), target)
        return Self.tinyJSON.replacingOccurrences(of: target, with: replacement)
    }

    @Test func theUnmodifiedFileLoads() throws {
        let dir = try TemporaryDirectory()
        _ = try BPETokenizer(tokenizerJSON: try dir.write(Array(Self.tinyJSON.utf8), to: "tokenizer.json"))
    }

    @Test func unknownModelTypes() throws {
        try expectRefused(replacing("\"type\": \"BPE\"", "\"type\": \"WordPiece\""), mentioning: "model type 'WordPiece'", unsupported: true)
        try expectRefused(replacing("\"type\": \"BPE\"", "\"type\": \"Unigram\""), mentioning: "model type 'Unigram'", unsupported: true)
    }

    @Test func unsupportedPipelineSteps() throws {
        try expectRefused(replacing("\"normalizer\": null", "\"normalizer\": {\"type\": \"NFC\"}"), mentioning: "normalizer NFC", unsupported: true)
        try expectRefused(replacing("\\\\p{N}|", "\\\\p{N}{1,2}|"), mentioning: "no native scanner", unsupported: true)
        try expectRefused(replacing("\"behavior\": \"Isolated\"", "\"behavior\": \"Removed\""), mentioning: "Isolated", unsupported: true)
        try expectRefused(replacing("\"dropout\": null", "\"dropout\": 0.1"), mentioning: "dropout", unsupported: true)
        let decoderStart = try #require(Self.tinyJSON.firstRange(of: "\"decoder\": {"))
        let decoderType = try #require(Self.tinyJSON[decoderStart.upperBound...].firstRange(of: "\"ByteLevel\""))
        var wrongDecoder = Self.tinyJSON
        wrongDecoder.replaceSubrange(decoderType, with: "\"WordPiece\"")
        try expectRefused(wrongDecoder, mentioning: "decoder WordPiece", unsupported: true)
    }

    @Test func damagedContent() throws {
        try expectRefused(String(Self.tinyJSON.dropLast(10)), mentioning: "not valid JSON", unsupported: false)
        try expectRefused(replacing("\"model\": {", "\"modell\": {"), mentioning: "no \"model\"", unsupported: false)
        // A merge whose parts are not tokens.
        try expectRefused(replacing("\"merges\": [", "\"merges\": [[\"zzz\", \"qqq\"], "), mentioning: "not in the vocabulary", unsupported: false)
        try expectRefused(replacing("\"merges\": [", "\"merges\": [\"Ġ\", "), mentioning: "not a merge", unsupported: false)
    }

    @Test func missingFilesAreIOErrors() throws {
        #expect(throws: FormatError.self) { try BPETokenizer(tokenizerJSON: "/nonexistent/tokenizer.json") }
        #expect(throws: FormatError.self) { try loadTokenizer("/nonexistent") }
        let empty = try TemporaryDirectory()
        #expect(throws: FormatError.self) { try BPETokenizer(huggingFaceDirectory: empty.path) }
        #expect(try loadTokenizer("byte").vocabularySize == 256)
        #expect(try loadTokenizer(Locations.fixtures + "/tiny-qwen2").vocabularySize > 256)
        #expect(try loadTokenizer(Locations.fixtures + "/tiny-qwen2/tokenizer.json").vocabularySize > 256)
    }

    /// A GGUF file holding only tokenizer metadata, with `edit` applied.
    func ggufTokenizer(_ edit: (inout GGUFMetadata) -> Void) throws -> (path: String, result: Result<BPETokenizer, Error>) {
        var writer = GGUFWriter()
        let tokens = ["a", "b", "ab", "<s>"]
        writer.metadata["tokenizer.ggml.model"] = .string("gpt2")
        writer.metadata["tokenizer.ggml.pre"] = .string("gpt2")
        writer.metadata["tokenizer.ggml.tokens"] = .array(elementType: .string, values: tokens.map { .string($0) })
        writer.metadata["tokenizer.ggml.token_type"] = .array(elementType: .int32, values: [1, 1, 1, 3].map { .int32($0) })
        writer.metadata["tokenizer.ggml.merges"] = .array(elementType: .string, values: [.string("a b")])
        writer.metadata["tokenizer.ggml.bos_token_id"] = .uint32(3)
        edit(&writer.metadata)
        let dir = try TemporaryDirectory()
        let path = dir.file("t.gguf")
        try writer.write(to: path)
        return (path, Result { try BPETokenizer(gguf: GGUFFile(path: path)) })
    }

    @Test func ggufTokenizerMetadata() throws {
        // The tiny vocabulary lacks most bytes: text outside it cannot be encoded, and says so.
        let valid = try ggufTokenizer { _ in }.result.get()
        #expect(try valid.encode("ab<s>ba") == [2, 3, 1, 0])
        #expect(valid.specialTokens.bos == 3)
        #expect(throws: TokenizerError.unencodable(text: "c")) { try valid.encode("c") }

        let cases: [(String, (inout GGUFMetadata) -> Void)] = [
            ("tokenizer.ggml.model 'llama'", { $0["tokenizer.ggml.model"] = .string("llama") }),
            ("tokenizer.ggml.pre 'mystery'", { $0["tokenizer.ggml.pre"] = .string("mystery") }),
            ("token_type has 2 entries", { $0["tokenizer.ggml.token_type"] = .array(elementType: .int32, values: [.int32(1), .int32(1)]) }),
            ("not a token id below 4", { $0["tokenizer.ggml.bos_token_id"] = .uint32(9) }),
            ("makes 'ba'", { $0["tokenizer.ggml.merges"] = .array(elementType: .string, values: [.string("b a")]) }),
            ("not an array of strings", { $0["tokenizer.ggml.tokens"] = .array(elementType: .int32, values: [.int32(1)]) }),
            ("no tokenizer.ggml.model", { $0["tokenizer.ggml.model"] = nil }),
        ]
        for (phrase, edit) in cases {
            let (path, result) = try ggufTokenizer(edit)
            #expect(throws: FormatError.self) { try result.get() }
            if case let .failure(error as FormatError) = result {
                #expect(error.description.contains(phrase), "\(error)")
                #expect(error.description.contains(path))
            }
        }
    }
}

@Suite struct ChatTemplateTests {
    @Test func llama3RendersAsTransformersDoes() throws {
        let reference = TokenizerReference.shared.llama3_chat
        let template = try ChatTemplate(reference.template, bosToken: reference.bos_token)
        #expect(template.family == .llama3(bos: "<|begin_of_text|>"))
        for chat in reference.chats {
            #expect(try template.render(chat.messages, addGenerationPrompt: chat.add_generation_prompt) == chat.rendered)
        }
    }

    @Test func chatMLWithoutDefaultSystem() throws {
        let source = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
        let template = try ChatTemplate(source)
        #expect(template.family == .chatML(defaultSystem: nil))
        #expect(try template.render([ChatMessage(role: "user", content: "Hi")]) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(throws: TokenizerError.self) { try template.render([ChatMessage(role: "bad role", content: "x")]) }
    }

    @Test func unknownTemplatesAreRefused() {
        #expect(throws: TokenizerError.self) { try ChatTemplate("{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}") }
        #expect(throws: TokenizerError.self) { try ChatTemplate("<|start_header_id|> Cutting Knowledge Date <|end_header_id|><|eot_id|>", bosToken: "<s>") }
        #expect(throws: TokenizerError.self) { try ChatTemplate("<|start_header_id|><|end_header_id|><|eot_id|>") }
    }

    @Test func huggingFaceDirectoriesWithoutATemplateGiveNil() throws {
        #expect(try ChatTemplate(huggingFaceDirectory: Locations.fixtures + "/tiny-qwen2") == nil)
    }
}
