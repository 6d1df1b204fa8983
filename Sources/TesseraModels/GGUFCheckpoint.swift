import TesseraCollectives
import TesseraFormats
import TesseraNN
import TesseraTensor

/// Loading llama.cpp GGUF files (`llama` and `gpt2` architectures): metadata → configuration
/// (``TransformerConfig/init(gguf:)``), llama.cpp tensors → Hugging Face parameters through
/// ``GGUFParameterSource`` (dequantized to Float32, transposes and the rotary row permutation undone),
/// each rank reading only its slices.
extension Transformer {
    /// Replaces every local value with this rank's slice of a GGUF file of this model's architecture.
    /// - Throws: ``ModelError`` when the file contradicts the configuration; ``FormatError`` for damaged files.
    public func load(fromGGUF file: GGUFFile) throws {
        try load(from: GGUFParameterSource(file: file, config: config))
    }
}

extension TransformerEngine {
    /// Builds this rank's model from a `llama` or `gpt2` GGUF file, each rank reading only its slices.
    /// - Parameter backend: the rank's threads (see ``TransformerEngine/init(config:groups:seed:sequenceParallel:optimizer:mappings:backend:)``).
    public convenience init(gguf path: String, groups: ProcessGroups? = nil, sequenceParallel: Bool = false,
                            optimizer: AdamWConfiguration = AdamWConfiguration(), backend: any ComputeBackend = CPUBackend.serial) throws {
        let file = try GGUFFile(path: path)
        try self.init(config: TransformerConfig(gguf: file), groups: groups, seed: nil, sequenceParallel: sequenceParallel,
                      optimizer: optimizer, backend: backend)
        try model.load(fromGGUF: file)
    }
}
