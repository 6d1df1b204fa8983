import Foundation
import TesseraFormats
import TesseraFiles

/// The tokenizer a converted checkpoint carries: a definition read from GGUF metadata, or the Hugging Face
/// tokenizer files of a directory. Files are copied unchanged to a Hugging Face output and converted
/// (``BPETokenizerDefinition``) only for a GGUF one, so a tokenizer GGUF cannot carry still converts between
/// Hugging Face directories, and a conversion that needs it fails before anything is written.
public enum CheckpointTokenizer: Sendable {
    case definition(BPETokenizerDefinition)
    /// The directory holding `tokenizer.json` or GPT-2's vocabulary and merges files.
    case huggingFaceFiles(directory: String)

    /// The files a Hugging Face directory may hold for its tokenizer (copied when present).
    public static let huggingFaceFileNames = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                              "vocab.json", "merges.txt", "encoder.json", "vocab.bpe"]

    /// The tokenizer files of `directory`, or `nil` when it has none.
    public init?(huggingFaceDirectory directory: String) {
        let defining = ["tokenizer.json", "vocab.json", "encoder.json"]
        guard defining.contains(where: { FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent($0)) }) else {
            return nil
        }
        self = .huggingFaceFiles(directory: directory)
    }

    /// The definition, reading Hugging Face files when that is what the checkpoint has.
    /// - Throws: ``FormatError`` for files that are damaged or say what GGUF cannot carry.
    public func definition() throws -> BPETokenizerDefinition {
        switch self {
        case let .definition(definition): return definition
        case let .huggingFaceFiles(directory): return try BPETokenizerDefinition(huggingFaceDirectory: directory)
        }
    }

    /// Writes the tokenizer's Hugging Face files into `directory`.
    func writeHuggingFaceFiles(toDirectory directory: String) throws {
        switch self {
        case let .definition(definition):
            try definition.writeHuggingFaceFiles(toDirectory: directory)
        case let .huggingFaceFiles(source):
            for name in Self.huggingFaceFileNames {
                let from = (source as NSString).appendingPathComponent(name)
                guard FileManager.default.fileExists(atPath: from) else { continue }
                let bytes = try Data(contentsOf: URL(fileURLWithPath: from))
                try bytes.withUnsafeBytes { try AtomicWrite.write($0, to: (directory as NSString).appendingPathComponent(name)) }
            }
        }
    }
}
