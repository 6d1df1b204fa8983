import TesseraCollectives
import TesseraFormats
import TesseraNN
import TesseraParallel
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

extension MeshEngine {
    /// Builds this rank's part of the model from a `llama` or `gpt2` GGUF file, each rank reading only its slices.
    /// - Parameters:
    ///   - parallel: the layout (default: the mesh of `groups`; one device without groups); `groups` must be built over its mesh.
    ///   - backend: the rank's compute backend (see ``init(config:parallel:groups:seed:optimizer:mappings:synchronization:backend:contextFaults:storedWeights:)``).
    ///   - weights: ``WeightFormat/float32`` (default) dequantizes every tensor into trainable parameters;
    ///     ``WeightFormat/stored`` keeps the matrices as the file stores them (borrowed from the mapped file where the
    ///     shard is whole rows), for evaluation and generation only.
    public convenience init(gguf path: String, parallel: ParallelConfig? = nil, groups: ProcessGroups? = nil,
                            optimizer: AdamWConfiguration = AdamWConfiguration(), backend: any ComputeBackend = CPUBackend.serial,
                            weights: WeightFormat = .float32) throws {
        let file = try GGUFFile(path: path)
        let config = try TransformerConfig(gguf: file)
        let source = GGUFParameterSource(file: file, config: config)
        try self.init(config: config, parallel: parallel ?? ParallelConfig(mesh: groups?.mesh), groups: groups, seed: nil, optimizer: optimizer,
                      backend: backend, storedWeights: weights == .stored ? source : nil)
        try model.load(from: source)
    }
}
