import TesseraCollectives
import TesseraFormats
import TesseraNN
import TesseraTensor

/// Loading Llama-family GGUF files (llama.cpp): metadata → configuration, llama.cpp tensor names → Hugging
/// Face parameters (dequantized to Float32, each rank reading only its slices), and the query/key row
/// permutation of llama.cpp's converter undone.
extension TransformerConfig {
    /// The configuration a `llama` GGUF file describes (`llama.*` and `tokenizer.ggml.*` metadata; tied
    /// embeddings when the file has no `output.weight`).
    /// - Throws: ``ModelError/invalidFile(path:reason:)`` for another architecture or missing metadata.
    public init(gguf file: GGUFFile) throws {
        guard file.architecture == "llama" else {
            throw ModelError.invalidFile(path: file.path, reason: "GGUF architecture \"\(file.architecture ?? "none")\" is not supported; Tessera reads llama GGUF files")
        }
        func int(_ key: String) throws -> Int {
            guard let value = file.metadata[key]?.int else { throw ModelError.invalidFile(path: file.path, reason: "metadata \(key) is missing") }
            return value
        }
        let hidden = try int("llama.embedding_length"), heads = try int("llama.attention.head_count")
        let vocabulary = try file.metadata["llama.vocab_size"]?.int ?? file.metadata["tokenizer.ggml.tokens"]?.array?.count
            ?? file.requireInfo(named: "token_embd.weight").shape[0]
        var config = TransformerConfig.llama(
            vocabularySize: vocabulary, contextLength: try int("llama.context_length"), hiddenSize: hidden,
            layers: try int("llama.block_count"), heads: heads, kvHeads: file.metadata["llama.attention.head_count_kv"]?.int ?? heads,
            intermediateSize: try int("llama.feed_forward_length"),
            ropeTheta: Float(file.metadata["llama.rope.freq_base"]?.double ?? 10_000),
            epsilon: Float(file.metadata["llama.attention.layer_norm_rms_epsilon"]?.double ?? 1e-5),
            tiedEmbeddings: !file.contains("output.weight"))
        config.attention.headDim = file.metadata["llama.rope.dimension_count"]?.int ?? hidden / heads
        config.bosTokenId = file.metadata["tokenizer.ggml.bos_token_id"]?.int
        config.eosTokenId = file.metadata["tokenizer.ggml.eos_token_id"]?.int
        try config.validate()
        self = config
    }

    /// llama.cpp's name for a Llama parameter (`model.layers.3.self_attn.q_proj.weight` → `blk.3.attn_q.weight`).
    public static func ggufName(of name: String) -> String {
        let fixed = ["model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                     "lm_head.weight": "output.weight"]
        if let name = fixed[name] { return name }
        let parts = name.split(separator: ".")
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers" else { return name }
        let suffixes = ["input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "q_proj": "attn_q", "k_proj": "attn_k",
                        "v_proj": "attn_v", "o_proj": "attn_output", "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"]
        let module = String(parts[parts.count - 2])
        return "blk.\(parts[2]).\(suffixes[module] ?? module).\(parts[parts.count - 1])"
    }
}

extension Transformer {
    /// Replaces every local value with this rank's slice of a llama GGUF file (dequantized), undoing the
    /// query/key row permutation per head (each rank's slice holds whole heads).
    /// - Throws: ``ModelError`` when the file contradicts the configuration; ``FormatError`` for damaged files.
    public func load(fromGGUF file: GGUFFile) throws {
        let d = config.attention.headDim
        try load(from: file, storedNames: { [TransformerConfig.ggufName(of: $0)] }) { spec, local in
            guard spec.name.hasSuffix("q_proj.weight") || spec.name.hasSuffix("k_proj.weight") else { return }
            let shape = spec.localShape
            let restored = try RotaryPermutation.unpermute(Tensor(shape: shape, scalars: Array(local)), heads: shape[0] / d)
            restored.withUnsafeBufferPointer { _ = local.update(fromContentsOf: $0) }
        }
    }
}

extension TransformerEngine {
    /// Builds this rank's model from a llama GGUF file, each rank reading only its slices.
    public convenience init(gguf path: String, groups: ProcessGroups? = nil, sequenceParallel: Bool = false,
                            optimizer: AdamWConfiguration = AdamWConfiguration()) throws {
        let file = try GGUFFile(path: path)
        try self.init(config: TransformerConfig(gguf: file), groups: groups, seed: nil, sequenceParallel: sequenceParallel,
                      optimizer: optimizer)
        try model.load(fromGGUF: file)
    }
}
