import Foundation
import TesseraFormats
import TesseraFiles

/// A tokenizer as a user names it (`byte`, `gpt2`, a path) or as a model carries it, with what the id cache needs
/// to know about it and the files that let a saved model carry it on.
public struct TokenizerChoice: Sendable {
    /// How the tokenizer is named in messages (`byte`, `gpt2`, or its path).
    public let name: String
    public let tokenizer: any Tokenizer
    /// The files that define the tokenizer, each with the name it gets in a saved model directory.
    public let files: [DefiningFile]
    /// Where the definition lives when it is not in ``files`` (a GGUF file's metadata).
    private let embeddedIn: String?

    /// One file of a tokenizer's definition.
    public struct DefiningFile: Sendable, Hashable {
        /// The file's path, or `nil` for content Tessera writes itself (``content``).
        public var source: String?
        /// Content written when there is no source file.
        public var content: String?
        /// Its name inside a saved model directory.
        public var savedName: String
    }

    /// The GPT-2 BPE files `make assets` fetches (`encoder.json`, `vocab.bpe`).
    public static let defaultGPT2Directory = "data/gpt2"

    /// A tokenizer named on the command line: `byte` (one id per UTF-8 byte), `gpt2` (the GPT-2 BPE files in
    /// `gpt2Directory`), or a path to a `tokenizer.json`, a Hugging Face or GPT-2 directory, or a `.gguf` file.
    /// - Throws: ``TrainingError/invalidTokenizer(path:reason:)``; format errors for damaged files.
    public static func named(_ name: String, gpt2Directory: String = defaultGPT2Directory) throws -> TokenizerChoice {
        switch name {
        case "byte":
            return TokenizerChoice(name: name, tokenizer: ByteTokenizer(), files: [
                DefiningFile(source: nil, content: ByteTokenizer.huggingFaceTokenizerJSON, savedName: "tokenizer.json"),
                DefiningFile(source: nil, content: fastTokenizerConfig, savedName: "tokenizer_config.json"),
            ], embeddedIn: nil)
        case "gpt2":
            guard FileManager.default.fileExists(atPath: (gpt2Directory as NSString).appendingPathComponent("encoder.json")) else {
                throw TrainingError.invalidTokenizer(path: gpt2Directory, reason: "the GPT-2 BPE files (encoder.json, vocab.bpe) are missing; run `make assets`")
            }
            return try directory(gpt2Directory, name: name)
        default:
            return try path(name)
        }
    }

    /// The tokenizer a model carries: the tokenizer files of a Hugging Face directory or the metadata of a GGUF file.
    /// - Throws: ``TrainingError/invalidTokenizer(path:reason:)`` when the model has none.
    public static func ofModel(_ model: ModelLocation) throws -> TokenizerChoice {
        switch model.format {
        case .gguf: return try path(model.path)
        case .huggingFace: return try directory(model.path, name: model.path)
        }
    }

    private static func path(_ path: String) throws -> TokenizerChoice {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainingError.invalidTokenizer(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue { return try directory(path, name: path) }
        if path.hasSuffix(".gguf") {
            return TokenizerChoice(name: path, tokenizer: try loadTokenizer(path), files: [], embeddedIn: path)
        }
        if path.hasSuffix(".json") {
            let config = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("tokenizer_config.json")
            let hasConfig = FileManager.default.fileExists(atPath: config)
            return TokenizerChoice(
                name: path, tokenizer: try loadTokenizer(path),
                files: [DefiningFile(source: path, savedName: "tokenizer.json")]
                    + (hasConfig ? [DefiningFile(source: config, savedName: "tokenizer_config.json")] : []),
                embeddedIn: nil)
        }
        throw TrainingError.invalidTokenizer(path: path, reason: "not a tokenizer.json, a tokenizer directory or a .gguf file")
    }

    /// A Hugging Face directory (`tokenizer.json`) or a GPT-2 one (`vocab.json` + `merges.txt` or `encoder.json` + `vocab.bpe`).
    private static func directory(_ directory: String, name: String) throws -> TokenizerChoice {
        func file(_ name: String) -> String? {
            let path = (directory as NSString).appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }
        var files: [DefiningFile] = []
        if let json = file("tokenizer.json") {
            files.append(DefiningFile(source: json, savedName: "tokenizer.json"))
            for extra in ["tokenizer_config.json", "special_tokens_map.json"] {
                if let path = file(extra) { files.append(DefiningFile(source: path, savedName: extra)) }
            }
        } else if let vocabulary = file("vocab.json") ?? file("encoder.json"), let merges = file("merges.txt") ?? file("vocab.bpe") {
            files = [DefiningFile(source: vocabulary, savedName: "vocab.json"), DefiningFile(source: merges, savedName: "merges.txt")]
        } else {
            throw TrainingError.invalidTokenizer(path: directory, reason: "no tokenizer files (tokenizer.json, or vocab.json + merges.txt)")
        }
        return TokenizerChoice(name: name, tokenizer: try loadTokenizer(directory), files: files, embeddedIn: nil)
    }

    /// Identifies the tokenizer's behavior for the id cache: its kind and a hash of every file that defines it.
    /// - Throws: ``TrainingError/unreadableData(path:reason:)`` when a defining file cannot be read.
    public func fingerprint() throws -> String {
        var parts = [String(describing: type(of: tokenizer))]
        for file in files {
            if let source = file.source {
                let bytes = try TokenCache.readFile(source)
                parts.append("\(file.savedName)=\(String(bytes.withUnsafeBytes { ContentHash.of($0) }, radix: 16))")
            } else if let content = file.content {
                parts.append("\(file.savedName)=\(String(ContentHash.of(content), radix: 16))")
            }
        }
        if let embeddedIn {
            let bytes = try TokenCache.readFile(embeddedIn)
            parts.append("gguf=\(String(bytes.withUnsafeBytes { ContentHash.of($0) }, radix: 16))")
        }
        return parts.joined(separator: ";")
    }

    /// The ids of a UTF-8 text file, tokenized once and cached (``TokenCache``).
    public func ids(ofTextFile path: String, cacheDirectory: String? = nil) throws -> (ids: [Int32], status: TokenCache.Status) {
        try TokenCache.load(textFile: path, tokenizerFingerprint: try fingerprint(), cacheDirectory: cacheDirectory) {
            try tokenizer.encode($0)
        }
    }

    /// Writes the tokenizer's files into a model directory (atomically, each under its Hugging Face name); a
    /// tokenizer inside a GGUF file is written as `tokenizer.json` + `tokenizer_config.json` (``BPETokenizerDefinition``).
    /// - Throws: ``TrainingError/unwritable(path:reason:)``; ``FormatError`` for a GGUF tokenizer Hugging Face files cannot carry.
    public func save(toDirectory directory: String) throws {
        if let embeddedIn {
            try BPETokenizerDefinition(gguf: GGUFFile(path: embeddedIn)).writeHuggingFaceFiles(toDirectory: directory)
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for file in files {
                let destination = (directory as NSString).appendingPathComponent(file.savedName)
                if let source = file.source {
                    let bytes = try TokenCache.readFile(source)
                    try bytes.withUnsafeBytes { try AtomicWrite.write($0, to: destination) }
                } else if let content = file.content {
                    try AtomicWrite.write(content, to: destination)
                }
            }
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError.unwritable(path: directory, reason: "\(error)")
        }
    }

    /// A `tokenizer_config.json` that lets transformers' `AutoTokenizer` load a bare `tokenizer.json`.
    static let fastTokenizerConfig = "{\"tokenizer_class\": \"PreTrainedTokenizerFast\", \"clean_up_tokenization_spaces\": false}\n"
}
