import TesseraFiles

/// Opens a tokenizer from a command-line style specification:
/// - `byte`: ``ByteTokenizer``;
/// - a `.gguf` file: the tokenizer stored in it (``BPETokenizer/init(gguf:)``);
/// - a `tokenizer.json` file (``BPETokenizer/init(tokenizerJSON:config:)``, with `tokenizer_config.json` beside it);
/// - a directory: Hugging Face (`tokenizer.json`) or GPT-2 (`vocab.json` + `merges.txt`, or `encoder.json` +
///   `vocab.bpe`), see ``BPETokenizer/init(huggingFaceDirectory:)``.
/// - Throws: ``FormatError`` when the path holds none of these or the files are damaged or unsupported.
public func loadTokenizer(_ specification: String) throws -> any Tokenizer {
    if specification == "byte" { return ByteTokenizer() }
    if FileSystem.isDirectory(specification) { return try BPETokenizer(huggingFaceDirectory: specification) }
    guard FileSystem.isRegularFile(specification) else {
        throw FormatError.io(path: specification, operation: "open tokenizer",
                             message: "no such file or directory (expected 'byte', a .gguf file, a tokenizer.json or a tokenizer directory)")
    }
    if specification.hasSuffix(".gguf") { return try BPETokenizer(gguf: GGUFFile(path: specification)) }
    if specification.hasSuffix(".json") {
        let config = FileSystem.join(FilePath.directory(of: specification), "tokenizer_config.json")
        return try BPETokenizer(tokenizerJSON: specification, config: FileSystem.isRegularFile(config) ? config : nil)
    }
    throw FormatError.unsupportedTokenizer(path: specification, reason: "not a .gguf file, a .json tokenizer or a directory")
}
