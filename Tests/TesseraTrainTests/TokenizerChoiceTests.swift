import Foundation
import Testing
import TesseraFormats
import TesseraTrain

/// A tokenizer chosen from a GGUF file is saved with a model as Hugging Face files that encode as it does.
@Suite struct TokenizerChoiceTests {
    static let gguf = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    @Test(.enabled(if: FileManager.default.fileExists(atPath: gguf), "run make assets to fetch the SmolLM2 GGUF"))
    func aGGUFTokenizerIsSavedAsTokenizerJSON() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-tokenizer-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let choice = try TokenizerChoice.named(Self.gguf)
        try choice.save(toDirectory: directory)
        let saved = try TokenizerChoice.named(directory).tokenizer
        let text = "Once upon a time, 12345 naïve cafés<|im_start|>user"
        #expect(try saved.encode(text) == choice.tokenizer.encode(text))
        #expect(saved.specialTokens == choice.tokenizer.specialTokens)
    }
}
