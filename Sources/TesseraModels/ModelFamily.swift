import TesseraNN
import TesseraParallel

/// What makes a decoder-only transformer family what it is, stated once: the attention projections and their
/// biases, the norm, the position encoding, the feed-forward kind, whether the head may be untied, and how weights
/// are laid out and initialized. Everything family-specific derives from it: the parameters a rank holds
/// (``TransformerConfig/parameterSpecs(context:layers:embedding:head:)``), the layers a chunk builds, validation, and,
/// through the family's name mappings (``HuggingFaceNaming``, ``GGUFNaming``), checkpoint tensor names and
/// configuration files. Adding a family means adding its description here and its name mappings, nothing else.
public struct ModelFamily: Sendable, Hashable {
    /// How a token's position enters the model.
    public enum Positions: String, Sendable, Hashable {
        /// A learned `[context, hidden]` table added to the token embedding (GPT-2).
        case learned
        /// Rotary embeddings applied to queries and keys (Su et al. 2021), in the Hugging Face half-rotation layout.
        case rotary
    }

    /// The attention block's projections.
    public struct Attention: Sendable, Hashable {
        public enum Projection: Sendable, Hashable {
            /// One projection for queries, keys and values (GPT-2's `c_attn`), split over tp in three blocks; keys
            /// and values have as many heads as queries.
            case fused
            /// Separate query, key and value projections; keys and values may have fewer heads (grouped-query attention).
            case separate
        }

        public var projection: Projection
        /// Whether the query, key and value projections add a bias (column-parallel: sharded with their weights).
        public var queryKeyValueBiases: Bool
        /// Whether the output projection adds a bias (row-parallel: replicated, added once after the reduction).
        public var outputBias: Bool
        /// Whether RMSNorm runs over the whole query projection and the whole key projection (every head at once,
        /// weights `[heads·headDim]` and `[kvHeads·headDim]`) before rotary positions (OLMoE). The norm's sums span
        /// every head, so with tp they are all-reduced (``QueryKeyNorm``) and no key head may be shared between
        /// ranks (``TransformerConfig/validate(tp:)``).
        public var queryKeyNorms: Bool

        public init(projection: Projection, queryKeyValueBiases: Bool, outputBias: Bool, queryKeyNorms: Bool = false) {
            self.projection = projection
            self.queryKeyValueBiases = queryKeyValueBiases
            self.outputBias = outputBias
            self.queryKeyNorms = queryKeyNorms
        }
    }

    /// The feed-forward part of a block.
    public enum FeedForward: Sendable, Hashable {
        /// One MLP: `down(gelu(up(x)))`, or `down(silu(gate(x)) ⊙ up(x))` for SwiGLU; `biases` on every projection.
        case dense(activation: MLPActivation, biases: Bool)
        /// A router choosing top-k routed experts (gated MLPs of the given activation) per token, with an
        /// always-active shared expert behind a sigmoid gate when `sharedExpert` (Qwen2-MoE). Counts and sizes are
        /// per model: ``TransformerConfig/moe``.
        case mixtureOfExperts(activation: MLPActivation, sharedExpert: Bool)

        /// Whether the block's feed-forward part is a mixture of experts.
        public var isMixtureOfExperts: Bool {
            if case .mixtureOfExperts = self { true } else { false }
        }

        /// Whether a mixture of experts has an always-active shared expert.
        public var hasSharedExpert: Bool {
            if case let .mixtureOfExperts(_, shared) = self { shared } else { false }
        }

        public var activation: MLPActivation {
            switch self {
            case let .dense(activation, _), let .mixtureOfExperts(activation, _): activation
            }
        }
    }

    /// Whether the LM head may have its own weight.
    public enum HeadTying: Sendable, Hashable {
        /// The head always reuses the token embedding (GPT-2).
        case always
        /// `tie_word_embeddings` decides (Llama).
        case optional
    }

    /// The family's short name in messages (`gpt2`, `llama`).
    public let name: String
    public let attention: Attention
    public let norm: NormalizationKind
    public let positions: Positions
    public let feedForward: FeedForward
    public let headTying: HeadTying
    /// How linear weights are stored: `[in, out]` for GPT-2's `Conv1D`, `[out, in]` for `nn.Linear`.
    public let weightLayout: WeightLayout
    /// Whether the residual projections (attention output, MLP down) start with std / √(2·layers) (Radford et al.
    /// 2019; Hugging Face `GPT2PreTrainedModel._init_weights`) rather than the initializer range.
    public let scalesResidualInitialization: Bool
    /// Names and `config.json` keys in Hugging Face checkpoints.
    public let huggingFace: HuggingFaceNaming
    /// Names and metadata in llama.cpp's GGUF files.
    public let gguf: GGUFNaming

    public init(name: String, attention: Attention, norm: NormalizationKind, positions: Positions, feedForward: FeedForward,
                headTying: HeadTying, weightLayout: WeightLayout, scalesResidualInitialization: Bool,
                huggingFace: HuggingFaceNaming, gguf: GGUFNaming) {
        self.name = name
        self.attention = attention
        self.norm = norm
        self.positions = positions
        self.feedForward = feedForward
        self.headTying = headTying
        self.weightLayout = weightLayout
        self.scalesResidualInitialization = scalesResidualInitialization
        self.huggingFace = huggingFace
        self.gguf = gguf
    }
}

extension ModelFamily {
    /// GPT-2 (Radford et al. 2019): fused biased attention, LayerNorm, learned positions, GELU MLP with biases,
    /// tied head, `Conv1D` weights.
    public static let gpt2 = ModelFamily(
        name: "gpt2", attention: Attention(projection: .fused, queryKeyValueBiases: true, outputBias: true), norm: .layerNorm,
        positions: .learned, feedForward: .dense(activation: .gelu, biases: true), headTying: .always, weightLayout: .inputMajor,
        scalesResidualInitialization: true, huggingFace: .gpt2, gguf: .gpt2)

    /// Llama (Touvron et al. 2023): grouped-query attention without biases, RMSNorm, rotary positions, SwiGLU.
    public static let llama = ModelFamily(
        name: "llama", attention: Attention(projection: .separate, queryKeyValueBiases: false, outputBias: false), norm: .rmsNorm,
        positions: .rotary, feedForward: .dense(activation: .swiglu, biases: false), headTying: .optional, weightLayout: .outputMajor,
        scalesResidualInitialization: false, huggingFace: .llama, gguf: .llama)

    /// Qwen2 (Qwen team 2024): the Llama layout with biases on the query, key and value projections.
    public static let qwen2 = ModelFamily(
        name: "qwen2", attention: Attention(projection: .separate, queryKeyValueBiases: true, outputBias: false), norm: .rmsNorm,
        positions: .rotary, feedForward: .dense(activation: .swiglu, biases: false), headTying: .optional, weightLayout: .outputMajor,
        scalesResidualInitialization: false, huggingFace: .qwen2, gguf: .qwen2)

    /// Mixtral (Jiang et al. 2024): the Llama layout with a mixture of SwiGLU experts in place of the MLP
    /// (`block_sparse_moe`).
    public static let mixtral = ModelFamily(
        name: "mixtral", attention: Attention(projection: .separate, queryKeyValueBiases: false, outputBias: false), norm: .rmsNorm,
        positions: .rotary, feedForward: .mixtureOfExperts(activation: .swiglu, sharedExpert: false), headTying: .optional,
        weightLayout: .outputMajor, scalesResidualInitialization: false, huggingFace: .mixtral, gguf: .llama)

    /// Qwen2-MoE (Qwen team 2024): Qwen2's attention with routed SwiGLU experts plus a shared expert behind a
    /// sigmoid gate.
    public static let qwen2MoE = ModelFamily(
        name: "qwen2_moe", attention: Attention(projection: .separate, queryKeyValueBiases: true, outputBias: false), norm: .rmsNorm,
        positions: .rotary, feedForward: .mixtureOfExperts(activation: .swiglu, sharedExpert: true), headTying: .optional,
        weightLayout: .outputMajor, scalesResidualInitialization: false, huggingFace: .qwen2MoE, gguf: .qwen2MoE)

    /// OLMoE (Muennighoff et al. 2024): the Llama layout with RMSNorm over the whole query and key projections
    /// (`q_norm`, `k_norm`) and a mixture of SwiGLU experts, top-k not renormalized by default.
    public static let olmoe = ModelFamily(
        name: "olmoe", attention: Attention(projection: .separate, queryKeyValueBiases: false, outputBias: false, queryKeyNorms: true),
        norm: .rmsNorm, positions: .rotary, feedForward: .mixtureOfExperts(activation: .swiglu, sharedExpert: false), headTying: .optional,
        weightLayout: .outputMajor, scalesResidualInitialization: false, huggingFace: .olmoe, gguf: .olmoe)

    /// Every family Tessera builds, reads and writes.
    public static let all: [ModelFamily] = [.gpt2, .llama, .qwen2, .mixtral, .qwen2MoE, .olmoe]

    /// `names` as a phrase for messages: "gpt2, llama and …".
    static func phrase(_ names: [String]) -> String {
        names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " and " + names.last!
    }
}

extension ModelFamily: CustomStringConvertible {
    /// The name: a family is known by it in messages and test names.
    public var description: String { name }
}

/// A parameter's place in the model, whatever a file format calls it.
public enum ParameterRole: Sendable, Hashable {
    case tokenEmbedding
    /// The learned position table (``ModelFamily/Positions/learned``).
    case positionEmbedding
    case block(layer: Int, BlockModule, ParameterComponent)
    /// A projection (weight only) of routed expert `expert` of a mixture-of-experts block.
    case expert(layer: Int, expert: Int, ExpertProjection)
    case finalNorm(ParameterComponent)
    /// The LM head's own weight (absent when tied to the embedding).
    case head
}

/// A weight-carrying module of a transformer block (routed experts apart: ``ParameterRole/expert(layer:expert:_:)``).
public enum BlockModule: Sendable, Hashable, CaseIterable {
    case attentionNorm, queryKeyValue, query, key, value, attentionOutput, mlpNorm, gate, up, down
    /// RMSNorm weights over the whole query projection `[heads·headDim]` and key projection `[kvHeads·headDim]`
    /// (``ModelFamily/Attention/queryKeyNorms``).
    case queryNorm, keyNorm
    /// The mixture-of-experts router `[experts, hidden]`.
    case router
    /// The shared expert's projections (a SwiGLU MLP) and its sigmoid gate `[1, hidden]` (Qwen2-MoE).
    case sharedGate, sharedUp, sharedDown, sharedExpertGate

    /// Whether this module is a norm (a vector weight) rather than a linear projection.
    public var isNorm: Bool { [.attentionNorm, .mlpNorm, .queryNorm, .keyNorm].contains(self) }
}

/// The weight or the bias of a module.
public enum ParameterComponent: String, Sendable, Hashable, CaseIterable {
    case weight, bias
}

extension ModelFamily {
    /// The column-parallel projections feeding attention, in the order their outputs are concatenated.
    public var attentionProjections: [BlockModule] {
        attention.projection == .fused ? [.queryKeyValue] : [.query, .key, .value]
    }

    /// The column-parallel projections feeding the MLP activation: SwiGLU's gate then up, or up alone.
    public var mlpInputs: [BlockModule] { feedForward.activation == .swiglu ? [.gate, .up] : [.up] }

    /// Whether `module` carries a bias.
    public func hasBias(_ module: BlockModule) -> Bool {
        switch module {
        case .attentionNorm, .mlpNorm: norm == .layerNorm
        case .queryNorm, .keyNorm: false
        case .queryKeyValue, .query, .key, .value: attention.queryKeyValueBiases
        case .attentionOutput: attention.outputBias
        case .gate, .up, .down:
            if case let .dense(_, biases) = feedForward { biases } else { false }
        case .router, .sharedGate, .sharedUp, .sharedDown, .sharedExpertGate: false
        }
    }

    /// The feed-forward modules of a block: the MLP's projections, or the router and the shared expert (routed
    /// experts are listed by ``TransformerConfig/blockRoles(_:)``, which knows their count).
    public var feedForwardModules: [BlockModule] {
        switch feedForward {
        case .dense: mlpInputs + [.down]
        case let .mixtureOfExperts(_, shared): [.router] + (shared ? [.sharedGate, .sharedUp, .sharedDown, .sharedExpertGate] : [])
        }
    }

    /// The parameters of block `layer` other than routed experts, in model order (each module's weight, then its bias).
    public func blockRoles(_ layer: Int) -> [ParameterRole] {
        let norms: [BlockModule] = attention.queryKeyNorms ? [.queryNorm, .keyNorm] : []
        let modules: [BlockModule] = [.attentionNorm] + attentionProjections + norms + [.attentionOutput, .mlpNorm] + feedForwardModules
        return modules.flatMap { module in
            [ParameterRole.block(layer: layer, module, .weight)] + (hasBias(module) ? [.block(layer: layer, module, .bias)] : [])
        }
    }

    /// The final norm's parameters.
    public var finalNormRoles: [ParameterRole] { norm == .layerNorm ? [.finalNorm(.weight), .finalNorm(.bias)] : [.finalNorm(.weight)] }
}
