import Foundation
import TesseraFormats
import TesseraTensor

/// A whole model checkpoint in memory, independent of its file format: the configuration, every parameter as a
/// full Float32 tensor under its Hugging Face name and in Hugging Face layout, and the tokenizer. It is what
/// `tessera convert` reads from one format and writes in the other (``write(to:format:dtype:replacing:)``).
///
/// Every tensor is dequantized and held at once (Float32: 4 bytes per parameter), which suits conversion on one
/// machine; training and serving load checkpoints slice by slice instead (``MeshEngine/init(checkpoint:groups:sequenceParallel:optimizer:backend:)``).
public struct ModelCheckpoint: Sendable {
    /// The two checkpoint formats.
    public enum Format: String, Sendable, CaseIterable {
        /// A llama.cpp GGUF file.
        case gguf
        /// A Hugging Face directory: `config.json`, safetensors, tokenizer files.
        case huggingFace

        /// GGUF for a path ending in `.gguf`, Hugging Face otherwise.
        public init(path: String) {
            self = path.lowercased().hasSuffix(".gguf") ? .gguf : .huggingFace
        }
    }

    public var config: TransformerConfig
    /// Every parameter, in model order (a tied head is the embedding and is not repeated).
    public var tensors: [(name: String, tensor: Tensor)]
    /// The tokenizer, or `nil` when the checkpoint carries none.
    public var tokenizer: CheckpointTokenizer?

    public init(config: TransformerConfig, tensors: [(name: String, tensor: Tensor)], tokenizer: CheckpointTokenizer?) {
        self.config = config
        self.tensors = tensors
        self.tokenizer = tokenizer
    }

    /// Reads a GGUF file (a regular file) or a Hugging Face directory.
    /// - Throws: ``ModelError`` for an unsupported architecture or weights that contradict the configuration;
    ///   ``FormatError`` for damaged files or a GGUF tokenizer that is present but unsupported.
    public init(contentsOf path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelError.invalidFile(path: path, reason: "no such file or directory; give a .gguf file or a Hugging Face directory")
        }
        if isDirectory.boolValue {
            try self.init(huggingFaceDirectory: path)
        } else {
            try self.init(gguf: GGUFFile(path: path))
        }
    }

    /// Reads a `llama` or `gpt2` GGUF file with its `tokenizer.ggml.*` tokenizer (if any).
    public init(gguf file: GGUFFile) throws {
        let config = try TransformerConfig(gguf: file)
        try self.init(config: config, source: GGUFParameterSource(file: file, config: config),
                      tokenizer: file.metadata["tokenizer.ggml.model"] == nil ? nil : .definition(BPETokenizerDefinition(gguf: file)))
    }

    /// Reads a Hugging Face directory (`config.json`, safetensors) with its tokenizer files (if any).
    public init(huggingFaceDirectory directory: String) throws {
        try self.init(config: TransformerConfig(contentsOf: directory), source: SafeTensorsCheckpoint(path: directory),
                      tokenizer: CheckpointTokenizer(huggingFaceDirectory: directory))
    }

    /// Reads every parameter of `config` from `source`, checking names and shapes as model loading does.
    private init(config: TransformerConfig, source: any TensorSource, tokenizer: CheckpointTokenizer?) throws {
        let tensors = try config.parameterSpecs(context: .single).map { spec in
            (spec.name, try source.tensor(named: Transformer.storedName(of: spec, in: source)))
        }
        self.init(config: config, tensors: tensors, tokenizer: tokenizer)
    }
}
