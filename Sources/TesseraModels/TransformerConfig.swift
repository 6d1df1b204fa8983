import TesseraNN
import TesseraParallel

/// A decoder-only transformer: the GPT-2 family (LayerNorm, GELU, learned positions, tied embeddings,
/// biases) and the Llama family (RMSNorm, rotary positions, SwiGLU, grouped-query attention, tied or
/// untied embeddings, no biases). Read from and written to Hugging Face `config.json` by
/// ``HuggingFaceConfig``.
public struct TransformerConfig: Sendable, Hashable, Codable {
    /// Which family's parameter names and layouts the model uses.
    public enum Architecture: String, Sendable, Hashable, Codable, CaseIterable {
        case gpt2, llama
    }

    /// Attention geometry.
    public struct Attention: Sendable, Hashable, Codable {
        /// Query heads.
        public var heads: Int
        /// Key/value heads (grouped-query attention when fewer than `heads`).
        public var kvHeads: Int
        /// Dimension of one head (usually `hidden / heads`).
        public var headDim: Int
        /// Rotary base `θ` (Llama's `rope_theta`), or `nil` for learned absolute positions (GPT-2).
        public var ropeTheta: Float?

        public init(heads: Int, kvHeads: Int? = nil, headDim: Int, ropeTheta: Float? = nil) {
            self.heads = heads
            self.kvHeads = kvHeads ?? heads
            self.headDim = headDim
            self.ropeTheta = ropeTheta
        }
    }

    /// MLP geometry.
    public struct MLP: Sendable, Hashable, Codable {
        public var intermediateSize: Int
        public var activation: MLPActivation

        public init(intermediateSize: Int, activation: MLPActivation) {
            self.intermediateSize = intermediateSize
            self.activation = activation
        }
    }

    /// Normalization layers.
    public struct Norm: Sendable, Hashable, Codable {
        public var kind: NormalizationKind
        public var epsilon: Float

        public init(kind: NormalizationKind, epsilon: Float) {
            self.kind = kind
            self.epsilon = epsilon
        }
    }

    public var architecture: Architecture
    public var vocabularySize: Int
    /// Longest sequence (GPT-2's `n_positions`, Llama's `max_position_embeddings`).
    public var contextLength: Int
    public var hiddenSize: Int
    public var layers: Int
    public var attention: Attention
    public var mlp: MLP
    public var norm: Norm
    /// Whether the LM head reuses the token embedding.
    public var tiedEmbeddings: Bool
    /// Standard deviation of the normal initialization (`initializer_range`).
    public var initializerRange: Float
    public var bosTokenId: Int?
    public var eosTokenId: Int?

    public init(architecture: Architecture, vocabularySize: Int, contextLength: Int, hiddenSize: Int, layers: Int,
                attention: Attention, mlp: MLP, norm: Norm, tiedEmbeddings: Bool, initializerRange: Float = 0.02,
                bosTokenId: Int? = nil, eosTokenId: Int? = nil) {
        self.architecture = architecture
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.attention = attention
        self.mlp = mlp
        self.norm = norm
        self.tiedEmbeddings = tiedEmbeddings
        self.initializerRange = initializerRange
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
    }

    /// A GPT-2 configuration (`n_inner` defaults to `4·hidden`).
    public static func gpt2(vocabularySize: Int, contextLength: Int, hiddenSize: Int, layers: Int, heads: Int,
                            intermediateSize: Int? = nil, epsilon: Float = 1e-5) -> TransformerConfig {
        TransformerConfig(
            architecture: .gpt2, vocabularySize: vocabularySize, contextLength: contextLength, hiddenSize: hiddenSize,
            layers: layers, attention: Attention(heads: heads, headDim: hiddenSize / max(1, heads)),
            mlp: MLP(intermediateSize: intermediateSize ?? 4 * hiddenSize, activation: .gelu),
            norm: Norm(kind: .layerNorm, epsilon: epsilon), tiedEmbeddings: true)
    }

    /// A Llama configuration.
    public static func llama(vocabularySize: Int, contextLength: Int, hiddenSize: Int, layers: Int, heads: Int, kvHeads: Int,
                             intermediateSize: Int, ropeTheta: Float = 10_000, epsilon: Float = 1e-5,
                             tiedEmbeddings: Bool) -> TransformerConfig {
        TransformerConfig(
            architecture: .llama, vocabularySize: vocabularySize, contextLength: contextLength, hiddenSize: hiddenSize,
            layers: layers, attention: Attention(heads: heads, kvHeads: kvHeads, headDim: hiddenSize / max(1, heads), ropeTheta: ropeTheta),
            mlp: MLP(intermediateSize: intermediateSize, activation: .swiglu),
            norm: Norm(kind: .rmsNorm, epsilon: epsilon), tiedEmbeddings: tiedEmbeddings)
    }

    /// Whether linear layers carry biases (GPT-2 does, Llama does not).
    public var hasBiases: Bool { architecture == .gpt2 }

    /// Vocabulary rounded up to a multiple of `tp` so that each rank holds equal rows (padding rows are
    /// zero and never enter the loss).
    public func paddedVocabularySize(tp: Int) -> Int { (vocabularySize + tp - 1) / tp * tp }

    /// Parameters of the full model (tied embeddings counted once).
    public var parameterCount: Int {
        parameterSpecs(context: .single).reduce(0) { $0 + $1.globalShape.reduce(1, *) }
    }
}

extension TransformerConfig {
    /// Checks the configuration in itself.
    /// - Throws: ``ModelError/invalidConfiguration(field:reason:)`` naming the field and the fix.
    public func validate() throws {
        func positive(_ value: Int, _ field: String) throws {
            guard value > 0 else { throw ModelError.invalidConfiguration(field: field, reason: "\(value) must be at least 1") }
        }
        try positive(vocabularySize, "vocab_size")
        try positive(contextLength, "context length (n_positions / max_position_embeddings)")
        try positive(hiddenSize, "hidden size")
        try positive(layers, "layers")
        try positive(attention.heads, "attention heads")
        try positive(attention.kvHeads, "key/value heads")
        try positive(attention.headDim, "head_dim")
        try positive(mlp.intermediateSize, "intermediate size")
        guard attention.heads % attention.kvHeads == 0 else {
            throw ModelError.invalidConfiguration(
                field: "num_key_value_heads",
                reason: "\(attention.heads) attention heads are not a multiple of \(attention.kvHeads) key/value heads; use a divisor of \(attention.heads)")
        }
        if architecture == .gpt2 {
            guard attention.heads * attention.headDim == hiddenSize, attention.kvHeads == attention.heads else {
                throw ModelError.invalidConfiguration(
                    field: "n_head", reason: "GPT-2 needs n_embd (\(hiddenSize)) = n_head (\(attention.heads)) × head size and no grouped-query attention")
            }
            guard attention.ropeTheta == nil, norm.kind == .layerNorm, mlp.activation == .gelu, tiedEmbeddings else {
                throw ModelError.invalidConfiguration(
                    field: "architecture", reason: "GPT-2 uses learned positions, LayerNorm, GELU and tied embeddings")
            }
        } else {
            guard attention.headDim % 2 == 0, attention.ropeTheta.map({ $0 > 0 }) ?? false else {
                throw ModelError.invalidConfiguration(
                    field: "rope_theta / head_dim", reason: "Llama needs a positive rope_theta and an even head_dim (\(attention.headDim))")
            }
            guard norm.kind == .rmsNorm, mlp.activation == .swiglu else {
                throw ModelError.invalidConfiguration(field: "architecture", reason: "Llama uses RMSNorm and SwiGLU")
            }
        }
    }

    /// The tensor-parallel sizes this model can be split over (up to `limit`).
    public func validTensorParallelSizes(limit: Int = 64) -> [Int] {
        (1...max(1, limit)).filter { tensorParallelProblem(tp: $0) == nil }
    }

    /// Checks that the model splits over `tp` ranks.
    /// - Throws: ``ModelError/indivisibleByTensorParallel(what:count:tp:valid:)`` listing the valid tp values.
    public func validate(tp: Int) throws {
        try validate()
        guard tp >= 1 else { throw ModelError.invalidConfiguration(field: "tp", reason: "\(tp) must be at least 1") }
        if let (what, count) = tensorParallelProblem(tp: tp) {
            throw ModelError.indivisibleByTensorParallel(what: what, count: count, tp: tp,
                                                         valid: validTensorParallelSizes(limit: max(tp, attention.heads)))
        }
    }

    private func tensorParallelProblem(tp: Int) -> (String, Int)? {
        if attention.heads % tp != 0 { return ("attention heads", attention.heads) }
        let kv = attention.kvHeads
        if kv % tp != 0 && tp % kv != 0 { return ("key/value heads (nor is tp a multiple of them)", kv) }
        if mlp.intermediateSize % tp != 0 { return ("intermediate (MLP) features", mlp.intermediateSize) }
        return nil
    }
}
