import Foundation
import Testing
import TesseraFormats

/// Tokenizers converted between Hugging Face files and GGUF metadata (``BPETokenizerDefinition``) keep
/// encoding every reference text to the reference ids, whichever way they went.
@Suite struct BPETokenizerDefinitionTests {
    static func tinyDirectory(_ name: String) -> String { Locations.fixtures + "/tiny-\(name)" }

    /// Writes `definition` as the only content of a GGUF file and opens it.
    static func gguf(_ definition: BPETokenizerDefinition, in directory: TemporaryDirectory) throws -> GGUFFile {
        var writer = GGUFWriter()
        writer.metadata["general.architecture"] = .string("llama")
        for (key, value) in definition.ggufMetadata { writer.metadata[key] = value }
        try writer.write(to: directory.file("tokenizer.gguf"))
        return try GGUFFile(path: directory.file("tokenizer.gguf"))
    }

    /// Hugging Face files → GGUF → Hugging Face files: the definition survives unchanged and both the GGUF and the
    /// rewritten files encode the reference texts (and add BOS/EOS) as transformers does.
    @Test(arguments: ["llama3", "qwen2"])
    func tinyTokenizersSurviveTheRoundTrip(name: String) throws {
        let reference = try #require(TokenizerReference.shared.tiny[name])
        let directory = try TemporaryDirectory()
        let original = try BPETokenizerDefinition(huggingFaceDirectory: Self.tinyDirectory(name))
        #expect(original.preTokenizer == (name == "llama3" ? "llama-bpe" : "qwen2"))

        let file = try Self.gguf(original, in: directory)
        #expect(try BPETokenizerDefinition(gguf: file) == original)
        let fromGGUF = try BPETokenizer(gguf: file)
        #expect(try expectMatches(fromGGUF, reference.cases, "\(name) via GGUF") == 0)
        #expect(try fromGGUF.encode("Hello world", addingSpecialTokens: true) == reference.with_special_tokens)

        let written = directory.file("hf")
        try original.writeHuggingFaceFiles(toDirectory: written)
        #expect(try BPETokenizerDefinition(huggingFaceDirectory: written) == original)
        let rewritten = try BPETokenizer(huggingFaceDirectory: written)
        #expect(try expectMatches(rewritten, reference.cases, "\(name) rewritten") == 0)
        #expect(try rewritten.encode("Hello world", addingSpecialTokens: true) == reference.with_special_tokens)
    }

    @Test(.enabled(if: Locations.hasGPT2, "run `make assets` to fetch data/gpt2"))
    func gpt2FilesBecomeGGUFMetadataAndComeBackAsVocabAndMerges() throws {
        let directory = try TemporaryDirectory()
        let original = try BPETokenizerDefinition(huggingFaceDirectory: Locations.gpt2)
        #expect(original.preTokenizer == "gpt2" && original.tokens.count == 50257 && original.tokenTypes[50256] == .control)
        let fromGGUF = try BPETokenizer(gguf: Self.gguf(original, in: directory))
        #expect(try expectMatches(fromGGUF, TokenizerReference.shared.gpt2, "gpt2 via GGUF") == 0)
        let written = directory.file("hf")
        #expect(try original.writeHuggingFaceFiles(toDirectory: written).sorted()
                    == ["merges.txt", "tokenizer.json", "tokenizer_config.json", "vocab.json"])
        #expect(try expectMatches(BPETokenizer(tokenizerJSON: written + "/tokenizer.json"), TokenizerReference.shared.gpt2, "gpt2 tokenizer.json") == 0)
        #expect(try expectMatches(BPETokenizer(gpt2Directory: written), TokenizerReference.shared.gpt2, "gpt2 vocab + merges") == 0)
    }

    @Test(.enabled(if: Locations.hasSmolLM2, "run `make assets` to fetch models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    func smolLM2TokenizerAndChatTemplateLeaveTheGGUF() throws {
        let directory = try TemporaryDirectory()
        let file = try GGUFFile(path: Locations.smolLM2)
        let original = try BPETokenizerDefinition(gguf: file)
        try original.writeHuggingFaceFiles(toDirectory: directory.path)
        let tokenizer = try BPETokenizer(huggingFaceDirectory: directory.path)
        #expect(try expectMatches(tokenizer, TokenizerReference.shared.smollm2, "smollm2 rewritten") == 0)
        #expect(tokenizer.specialTokens == (try BPETokenizer(gguf: file)).specialTokens)
        let messages = [ChatMessage(role: "user", content: "Hi")]
        #expect(try ChatTemplate(huggingFaceDirectory: directory.path)?.render(messages) == ChatTemplate(gguf: file)?.render(messages))
    }

    /// Non-vacuity: the same definition under another pre-tokenizer name encodes some reference texts differently.
    @Test func aWrongPreTokenizerNameIsCaught() throws {
        var definition = try BPETokenizerDefinition(huggingFaceDirectory: Self.tinyDirectory("llama3"))
        definition.preTokenizer = "gpt2"
        let wrong = try BPETokenizer(gguf: Self.gguf(definition, in: TemporaryDirectory()))
        let cases = try #require(TokenizerReference.shared.tiny["llama3"]).cases
        #expect(try cases.contains { try wrong.encode($0.text) != $0.ids })
    }

    @Test func unrepresentableTokenizersAreRefused() throws {
        let directory = try TemporaryDirectory()
        // A byte-level tokenizer that maps bytes without splitting has no llama.cpp pre-tokenizer name.
        let json = """
            {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
             "decoder": {"type": "ByteLevel"}}
            """
        _ = try directory.write(Array(json.utf8), to: "tokenizer.json")
        #expect {
            try BPETokenizerDefinition(huggingFaceDirectory: directory.path)
        } throws: { error in
            "\(error)".contains("has no llama.cpp name") && "\(error)".contains("GGUF cannot carry it")
        }
        // Byte fallback (`<0xXX>` tokens for bytes without one) has no GGUF key.
        let fallback = json.replacingOccurrences(of: #""merges": []"#, with: #""merges": [], "byte_fallback": true"#)
            .replacingOccurrences(of: #""b": 1"#, with: #""b": 1, "<0x63>": 2"#)
            .replacingOccurrences(of: #""use_regex": false"#, with: #""use_regex": true"#)
        _ = try directory.write(Array(fallback.utf8), to: "tokenizer.json")
        #expect {
            try BPETokenizerDefinition(huggingFaceDirectory: directory.path)
        } throws: { error in
            "\(error)".contains("byte_fallback; GGUF cannot carry it")
        }
        var unknown = try BPETokenizerDefinition(huggingFaceDirectory: Self.tinyDirectory("qwen2"))
        unknown.preTokenizer = "falcon"
        #expect(throws: FormatError.unsupportedTokenizer(path: directory.file("out"), reason: "pre-tokenizer 'falcon' has no Hugging Face form in Tessera")) {
            try unknown.writeHuggingFaceFiles(toDirectory: directory.file("out"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory.file("out")))
    }
}
