import TesseraNN
import TesseraParallel

/// A decoder-only transformer: a ``ModelFamily`` (``ModelFamily/all``) and its sizes. Read from and written to
/// Hugging Face `config.json` by ``HuggingFaceConfig`` and GGUF metadata by ``init(gguf:)``.
public struct TransformerConfig: Sendable, Hashable {
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
        /// The family's activation (``validate()`` refuses another).
        public var activation: MLPActivation

        public init(intermediateSize: Int, activation: MLPActivation) {
            self.intermediateSize = intermediateSize
            self.activation = activation
        }
    }

    /// Normalization layers.
    public struct Norm: Sendable, Hashable, Codable {
        /// The family's norm (``validate()`` refuses another).
        public var kind: NormalizationKind
        public var epsilon: Float

        public init(kind: NormalizationKind, epsilon: Float) {
            self.kind = kind
            self.epsilon = epsilon
        }
    }

    /// The family whose layout, names and layers the model uses.
    public var family: ModelFamily
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
    /// The experts and router of a mixture-of-experts family (`nil` for a dense MLP).
    public var moe: MixtureOfExperts?

    public init(family: ModelFamily, vocabularySize: Int, contextLength: Int, hiddenSize: Int, layers: Int,
                attention: Attention, mlp: MLP, norm: Norm, tiedEmbeddings: Bool, initializerRange: Float = 0.02,
                bosTokenId: Int? = nil, eosTokenId: Int? = nil, moe: MixtureOfExperts? = nil) {
        self.family = family
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
        self.moe = moe
    }

    /// A configuration of `family` whose norm, activation and position encoding are the family's.
    /// - Parameters:
    ///   - ropeTheta: the rotary base, used when the family has rotary positions.
    ///   - tiedEmbeddings: `nil` for the family's Hugging Face default (always tied for GPT-2).
    public init(family: ModelFamily, vocabularySize: Int, contextLength: Int, hiddenSize: Int, layers: Int, heads: Int,
                kvHeads: Int? = nil, intermediateSize: Int, ropeTheta: Float = 10_000, epsilon: Float = 1e-5,
                tiedEmbeddings: Bool? = nil) {
        self.init(
            family: family, vocabularySize: vocabularySize, contextLength: contextLength, hiddenSize: hiddenSize, layers: layers,
            attention: Attention(heads: heads, kvHeads: kvHeads, headDim: hiddenSize / max(1, heads),
                                 ropeTheta: family.positions == .rotary ? ropeTheta : nil),
            mlp: MLP(intermediateSize: intermediateSize, activation: family.feedForward.activation),
            norm: Norm(kind: family.norm, epsilon: epsilon),
            tiedEmbeddings: family.headTying == .always || (tiedEmbeddings ?? family.huggingFace.tiedByDefault))
    }

    /// A GPT-2 configuration (`n_inner` defaults to `4·hidden`).
    public static func gpt2(vocabularySize: Int, contextLength: Int, hiddenSize: Int, layers: Int, heads: Int,
                            intermediateSize: Int? = nil, epsilon: Float = 1e-5) -> TransformerConfig {
        TransformerConfig(family: .gpt2, vocabularySize: vocabularySize, contextLength: contextLength, hiddenSize: hiddenSize,
                          layers: layers, heads: heads, intermediateSize: intermediateSize ?? 4 * hiddenSize, epsilon: epsilon)
    }

    /// A Llama configuration.
    public static func llama(vocabularySize: Int, contextLength: Int, hiddenSize: Int, layers: Int, heads: Int, kvHeads: Int,
                             intermediateSize: Int, ropeTheta: Float = 10_000, epsilon: Float = 1e-5,
                             tiedEmbeddings: Bool) -> TransformerConfig {
        TransformerConfig(family: .llama, vocabularySize: vocabularySize, contextLength: contextLength, hiddenSize: hiddenSize,
                          layers: layers, heads: heads, kvHeads: kvHeads, intermediateSize: intermediateSize, ropeTheta: ropeTheta,
                          epsilon: epsilon, tiedEmbeddings: tiedEmbeddings)
    }

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
        try validateFamily()
    }

    /// Checks what the family requires of the sizes and that the norm, activation, positions and head tying are the
    /// family's.
    private func validateFamily() throws {
        let name = family.name
        if family.attention.projection == .fused {
            guard attention.heads * attention.headDim == hiddenSize, attention.kvHeads == attention.heads else {
                throw ModelError.invalidConfiguration(
                    field: "attention heads", reason: "\(name) fuses queries, keys and values into one projection: it needs hidden size (\(hiddenSize)) = heads (\(attention.heads)) × head size and no grouped-query attention")
            }
        }
        if family.attention.queryKeyNorms, attention.heads * attention.headDim != hiddenSize {
            throw ModelError.invalidConfiguration(
                field: "head_dim", reason: "\(name) normalizes the query projection with a weight of hidden size (\(hiddenSize)): it needs heads (\(attention.heads)) × head_dim (\(attention.headDim)) = hidden size")
        }
        if family.positions == .rotary {
            guard attention.headDim % 2 == 0, attention.ropeTheta.map({ $0 > 0 }) ?? false else {
                throw ModelError.invalidConfiguration(
                    field: "rope_theta / head_dim", reason: "\(name) needs a positive rope_theta and an even head_dim (\(attention.headDim))")
            }
        }
        try validateMixtureOfExperts()
        guard norm.kind == family.norm, mlp.activation == family.feedForward.activation,
              (attention.ropeTheta != nil) == (family.positions == .rotary), tiedEmbeddings || family.headTying == .optional else {
            throw ModelError.invalidConfiguration(
                field: "architecture",
                reason: "\(name) uses \(family.norm), \(family.feedForward.activation), \(family.positions) positions and \(family.headTying == .always ? "a tied" : "a tied or untied") head")
        }
    }
}
