import Foundation
import Testing
import TesseraFormats

@Suite struct ByteTokenizerTests {
    @Test func encodesUTF8BytesAndDecodesThemBack() throws {
        let tokenizer = ByteTokenizer()
        let text = "héllo 日本 😀\n"
        let ids = try tokenizer.encode(text)
        #expect(ids == Array(text.utf8).map { Int32($0) })
        #expect(try tokenizer.decode(ids) == text)
        #expect(tokenizer.vocabularySize == 256)
    }

    @Test func refusesIdsOutOfRangeAndInvalidUTF8() throws {
        let tokenizer = ByteTokenizer()
        #expect(throws: TokenizerError.idOutOfRange(id: 256, vocabularySize: 256)) { try tokenizer.decode([104, 256]) }
        #expect(throws: TokenizerError.idOutOfRange(id: -1, vocabularySize: 256)) { try tokenizer.decode([-1]) }
        #expect(throws: TokenizerError.invalidUTF8(offset: 3)) { try tokenizer.encode(utf8: [0x61, 0xC3, 0xA9, 0xFF, 0x62]) }
        #expect(throws: TokenizerError.invalidUTF8(offset: 0)) { try tokenizer.encode(utf8: [0xC3]) }
        #expect(try tokenizer.encode(utf8: Array("ok".utf8)) == [111, 107])
        // A token boundary inside a character decodes to U+FFFD (exact bytes stay available).
        #expect(try tokenizer.decode([0xC3]) == "\u{FFFD}")
        #expect(try tokenizer.decodeBytes([0xC3]) == [0xC3])
    }

    @Test func streamingDecodingHoldsBackSplitCharacters() throws {
        let text = "a日😀é!"
        var stream = StreamingDecoder(tokenizer: ByteTokenizer())
        var pieces: [String] = []
        for id in try ByteTokenizer().encode(text) { pieces.append(try stream.append(id)) }
        #expect(pieces.joined() == text)
        #expect(!pieces.contains { $0.contains("\u{FFFD}") })
        #expect(pieces.filter(\.isEmpty).count == 2 + 3 + 1, "continuation bytes wait for their character")
        #expect(try stream.append(0xE6) == "" && stream.finish() == "\u{FFFD}")
        #expect(throws: TokenizerError.self) { try stream.append(300) }
    }
}

@Suite(.enabled(if: Locations.hasGPT2, "run `make assets` to fetch data/gpt2"))
struct GPT2TokenizerTests {
    /// Loaded once for the suite (each test gets a fresh suite value).
    static let shared = Result { try BPETokenizer(encoderJSON: Locations.gpt2 + "/encoder.json", vocabBPE: Locations.gpt2 + "/vocab.bpe") }
    let tokenizer: BPETokenizer

    init() throws {
        tokenizer = try Self.shared.get()
    }

    @Test func matchesTransformersGPT2TokenizerFastOnEveryReferenceText() throws {
        #expect(try expectMatches(tokenizer, TokenizerReference.shared.gpt2, "gpt2") == 0)
        #expect(tokenizer.vocabularySize == 50257)
    }

    @Test func specialTokensAndDirectoryLoading() throws {
        #expect(tokenizer.specialTokens == SpecialTokens(bos: 50256, eos: 50256, unknown: 50256))
        #expect(try tokenizer.encode("a<|endoftext|>b") == [64, 50256, 65])
        #expect(try tokenizer.decode([64, 50256, 65], skippingSpecialTokens: true) == "ab")
        #expect(try tokenizer.encode("a", addingSpecialTokens: true) == [64], "GPT-2 adds no BOS")
        #expect(try BPETokenizer(gpt2Directory: Locations.gpt2).encode("Hello world") == [15496, 995])
        #expect(try BPETokenizer(huggingFaceDirectory: Locations.gpt2).encode("Hello world") == [15496, 995])
        #expect(tokenizer.id(of: "<|endoftext|>") == 50256)
        #expect(tokenizer.id(of: " the") == 262)
    }

    @Test func refusesIdsOutOfRangeAndInvalidUTF8() throws {
        #expect(throws: TokenizerError.idOutOfRange(id: 50257, vocabularySize: 50257)) { try tokenizer.decode([50257]) }
        #expect(throws: TokenizerError.invalidUTF8(offset: 1)) { try tokenizer.encode(utf8: [0x41, 0x80]) }
    }
}

@Suite(.enabled(if: Locations.hasSmolLM2, "run `make assets` to fetch models/SmolLM2-135M-Instruct.Q4_1.gguf"))
struct SmolLM2TokenizerTests {
    static let shared = Result { () throws -> (GGUFFile, BPETokenizer) in
        let file = try GGUFFile(path: Locations.smolLM2)
        return (file, try BPETokenizer(gguf: file))
    }
    let file: GGUFFile
    let tokenizer: BPETokenizer

    init() throws {
        (file, tokenizer) = try Self.shared.get()
    }

    @Test func onceUponATimeTokenizesToTheReferenceIds() throws {
        #expect(try tokenizer.encode("Once upon a time") == [6403, 1980, 253, 655])
    }

    @Test func matchesTheTransformersTokenizerRebuiltFromTheGGUF() throws {
        #expect(try expectMatches(tokenizer, TokenizerReference.shared.smollm2, "smollm2") == 0)
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.specialTokens == SpecialTokens(bos: 1, eos: 2, unknown: 0, padding: 2, addsBOS: false))
        #expect(tokenizer.preTokenizer == .sequence([.digits(individual: true), .gpt2]))
    }

    @Test func chatTemplateRendersAsTransformersDoes() throws {
        let template = try #require(try ChatTemplate(gguf: file))
        #expect(template.family == .chatML(defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        for chat in TokenizerReference.shared.smollm2_chats {
            let rendered = try template.render(chat.messages, addGenerationPrompt: chat.add_generation_prompt)
            #expect(rendered == chat.rendered)
            #expect(try tokenizer.encode(rendered) == chat.ids)
        }
    }
}

@Suite struct TokenizerJSONTests {
    static func directory(_ name: String) -> String { Locations.fixtures + "/tiny-\(name)" }

    @Test(arguments: ["llama3", "qwen2"])
    func tinyTokenizersMatchHuggingFaceTokenizers(name: String) throws {
        let reference = try #require(TokenizerReference.shared.tiny[name])
        let tokenizer = try BPETokenizer(huggingFaceDirectory: Self.directory(name))
        #expect(try expectMatches(tokenizer, reference.cases, name) == 0)
        #expect(try tokenizer.encode("Hello world", addingSpecialTokens: true) == reference.with_special_tokens)
        #expect(tokenizer.specialTokens.eos == tokenizer.id(of: "<|end_of_text|>"))
        #expect(tokenizer.specialTokens.addsBOS == (name == "llama3"))
    }

    @Test func byteFallbackMatchesHuggingFace() throws {
        // The vocabulary lacks 'Ġ' (the space): Hugging Face falls back to <0xC4> <0xA0>, the UTF-8 of 'Ġ'.
        let tokenizer = try BPETokenizer(huggingFaceDirectory: Self.directory("bytefallback"))
        #expect(try expectMatches(tokenizer, TokenizerReference.shared.byte_fallback, "byte fallback") == 0)
    }

    @Test func aWrongPreTokenizerIsCaughtByTheReference() throws {
        // Non-vacuity: the Llama 3 vocabulary with GPT-2's regex in place of its own must miss some reference ids.
        let dir = try TemporaryDirectory()
        let original = String(decoding: try Data(contentsOf: URL(fileURLWithPath: Self.directory("llama3") + "/tokenizer.json")), as: UTF8.self)
        let llama3Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"#
        let gpt2Regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"#
        #expect(original.contains(llama3Regex))
        _ = try dir.write(Array(original.replacingOccurrences(of: llama3Regex, with: gpt2Regex).utf8), to: "tokenizer.json")
        let wrong = try BPETokenizer(tokenizerJSON: dir.file("tokenizer.json"))
        let cases = try #require(TokenizerReference.shared.tiny["llama3"]).cases
        let mismatches = try cases.filter { try wrong.encode($0.text) != $0.ids }
        #expect(!mismatches.isEmpty)
    }
}
