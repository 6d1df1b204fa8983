/// Mixture-of-experts feed-forward layers (Mixtral, DeepSeek, Qwen-MoE).
public struct MixtureOfExperts: Sendable, Equatable {
    /// Routed experts per MoE layer.
    public var experts: Int
    /// Routed experts each token visits (top-k).
    public var expertsPerToken: Int
    /// Intermediate size of one routed expert (gated: three h x f matrices).
    public var expertFFNSize: Int
    /// Total intermediate size of the always-active shared experts (0 when none).
    public var sharedFFNSize: Int
    /// The first this-many layers keep a dense MLP (DeepSeek's `first_k_dense_replace`).
    public var firstDenseLayers: Int
    /// Every `layerFrequency`-th layer after those is MoE (DeepSeek's `moe_layer_freq`).
    public var layerFrequency: Int
    /// Group-limited routing (DeepSeek's `n_group` and `topk_group`): the experts form `routingGroups` groups and a
    /// token picks its experts from at most `routingGroupsPerToken` of them; DeepSeek-V3 puts one group on each node
    /// so that a token reaches at most 4 nodes (DeepSeek-AI 2024, §3.2.2, "node-limited routing"). nil: no limit.
    public var routingGroups: Int? = nil
    public var routingGroupsPerToken: Int? = nil
    /// The shared experts' output passes a sigmoid gate of one weight per hidden feature (Qwen2-MoE's
    /// `shared_expert_gate`).
    public var sharedExpertGate = false
}

/// Multi-head latent attention (DeepSeek-V2/V3): keys and values are rebuilt from a small cached latent.
public struct LatentAttention: Sendable, Equatable {
    /// Rank of the query compression (0: queries are projected directly).
    public var queryRank: Int
    /// Rank of the key/value latent that the KV cache stores.
    public var keyValueRank: Int
    /// Per-head dimensions of the rotary and non-rotary query/key parts and of the values.
    public var ropeHeadDim: Int
    public var nopeHeadDim: Int
    public var valueHeadDim: Int
}

/// The shape of a decoder-only transformer, as far as memory and FLOPs are concerned.
///
/// Parameter counts follow the usual module layout: token embedding (plus learned positions for GPT-2), per layer
/// attention projections, MLP (gated: gate, up, down; plain: up, down) or experts, two norms; a final norm; an output
/// projection unless tied to the embedding.
public struct ModelArchitecture: Sendable, Equatable {
    public enum Biases: String, Sendable { case none, queryKeyValue, all }

    public var name: String
    /// Where the numbers come from (URL of the config.json, or a paper).
    public var source: String
    public var hiddenSize: Int
    public var layers: Int
    public var attentionHeads: Int
    public var keyValueHeads: Int
    /// Per-head query/key dimension.
    public var headDim: Int
    /// Per-head value dimension (equal to `headDim` except in latent attention).
    public var valueHeadDim: Int
    /// Dense MLP intermediate size (the dense layers of an MoE model use it too).
    public var ffnSize: Int
    public var vocabularySize: Int
    public var maxPositions: Int
    public var tiedEmbeddings: Bool
    public var learnedPositions: Bool
    public var gatedMLP: Bool
    public var biases: Biases
    /// LayerNorm (weight and bias) rather than RMSNorm (weight only).
    public var layerNormWithBias: Bool
    /// Dropout after attention/MLP and on attention probabilities (GPT-2/GPT-3); stores masks for backward.
    public var dropout: Bool
    public var moe: MixtureOfExperts?
    public var latentAttention: LatentAttention?
    /// RMSNorm weights over the whole query and key projections (OLMoE's `q_norm` and `k_norm`).
    public var queryKeyNorms = false
    /// Multi-token-prediction modules trained beside the model (DeepSeek-V3's MTP depth D, `num_nextn_predict_layers`;
    /// DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", §2.2): module k takes the main model's (or module k − 1's)
    /// last hidden state and the embedding of the token k ahead, normalizes both, projects their concatenation from
    /// 2h to h, runs one more transformer block, and predicts through the shared output head. Not counted in
    /// ``totalParameters`` (the 671B of DeepSeek-V3 leave out its 14B MTP module).
    public var predictionModules = 0

    public init(
        name: String, source: String = "", hiddenSize: Int, layers: Int, attentionHeads: Int,
        keyValueHeads: Int? = nil, headDim: Int? = nil, valueHeadDim: Int? = nil, ffnSize: Int,
        vocabularySize: Int, maxPositions: Int, tiedEmbeddings: Bool, learnedPositions: Bool, gatedMLP: Bool,
        biases: Biases, layerNormWithBias: Bool, dropout: Bool, moe: MixtureOfExperts? = nil,
        latentAttention: LatentAttention? = nil
    ) {
        self.name = name
        self.source = source
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.attentionHeads = attentionHeads
        self.keyValueHeads = keyValueHeads ?? attentionHeads
        self.headDim = headDim ?? hiddenSize / max(attentionHeads, 1)
        self.valueHeadDim = valueHeadDim ?? self.headDim
        self.ffnSize = ffnSize
        self.vocabularySize = vocabularySize
        self.maxPositions = maxPositions
        self.tiedEmbeddings = tiedEmbeddings
        self.learnedPositions = learnedPositions
        self.gatedMLP = gatedMLP
        self.biases = biases
        self.layerNormWithBias = layerNormWithBias
        self.dropout = dropout
        self.moe = moe
        self.latentAttention = latentAttention
    }

    /// A GPT-2/GPT-3-style model (LayerNorm, GeLU MLP of 4h, biases, learned positions, tied embeddings,
    /// dropout), the architecture of Narayanan et al. 2021 and Korthikanti et al. 2022.
    public static func gpt(
        name: String, hiddenSize: Int, layers: Int, heads: Int, vocabularySize: Int, sequenceLength: Int,
        source: String = ""
    ) -> ModelArchitecture {
        ModelArchitecture(
            name: name, source: source, hiddenSize: hiddenSize, layers: layers, attentionHeads: heads,
            ffnSize: 4 * hiddenSize, vocabularySize: vocabularySize, maxPositions: sequenceLength,
            tiedEmbeddings: true, learnedPositions: true, gatedMLP: false, biases: .all, layerNormWithBias: true,
            dropout: true)
    }

    // MARK: Layer kinds

    /// Whether layer `index` (0-based) has experts instead of a dense MLP.
    public func isMoELayer(_ index: Int) -> Bool {
        guard let moe else { return false }
        return index >= moe.firstDenseLayers && (index - moe.firstDenseLayers) % max(moe.layerFrequency, 1) == 0
    }

    // MARK: Parameter counts (elements)

    /// Query width `a * d_qk` and value width `a * d_v`.
    public var queryWidth: Int { attentionHeads * headDim }
    public var valueWidth: Int { attentionHeads * valueHeadDim }
    public var keyValueWidth: Int { keyValueHeads * headDim }

    /// Attention projection matrices of one layer (no biases, no norms).
    public var attentionMatrixParameters: Double {
        let h = Double(hiddenSize)
        if let mla = latentAttention {
            let a = Double(attentionHeads)
            let qk = Double(mla.nopeHeadDim + mla.ropeHeadDim)
            let query = mla.queryRank > 0
                ? h * Double(mla.queryRank) + Double(mla.queryRank) * a * qk
                : h * a * qk
            let latent = h * Double(mla.keyValueRank + mla.ropeHeadDim)
                + Double(mla.keyValueRank) * a * Double(mla.nopeHeadDim + mla.valueHeadDim)
            return query + latent + a * Double(mla.valueHeadDim) * h
        }
        return h * Double(queryWidth + 2 * keyValueWidth) + Double(valueWidth) * h
    }

    /// Biases and norms of one layer: two norms, attention biases, MLP biases (plain MLP only), latent norms, query/key norms.
    public var layerVectorParameters: Double {
        let h = Double(hiddenSize)
        var count = (layerNormWithBias ? 4 : 2) * h
        switch biases {
        case .none: break
        case .queryKeyValue: count += Double(queryWidth + 2 * keyValueWidth)
        case .all:
            count += Double(queryWidth + 2 * keyValueWidth) + h
            if !gatedMLP { count += Double(ffnSize) + h }
        }
        if let mla = latentAttention { count += Double(mla.queryRank + mla.keyValueRank) }
        if queryKeyNorms { count += Double(queryWidth + keyValueWidth) }
        return count
    }

    /// MLP matrices of a dense layer.
    public var denseMLPParameters: Double {
        Double(gatedMLP ? 3 : 2) * Double(hiddenSize) * Double(ffnSize)
    }

    /// All routed experts of one MoE layer.
    public var routedExpertParameters: Double {
        guard let moe else { return 0 }
        return Double(moe.experts) * Double(gatedMLP ? 3 : 2) * Double(hiddenSize) * Double(moe.expertFFNSize)
    }

    /// Shared experts and the router of one MoE layer (replicated like dense weights).
    public var sharedExpertAndRouterParameters: Double {
        guard let moe else { return 0 }
        let h = Double(hiddenSize)
        return sharedExpertMatrixParameters + h * Double(moe.experts) + (moe.sharedExpertGate ? h : 0)
    }

    /// The shared experts' MLP matrices of one MoE layer (0 without shared experts): split over the dense layers' tp
    /// ranks like a dense MLP (``TrainingCostModel/layerTensorParallel``).
    public var sharedExpertMatrixParameters: Double {
        guard let moe else { return 0 }
        return Double(gatedMLP ? 3 : 2) * Double(hiddenSize) * Double(moe.sharedFFNSize)
    }

    /// Token embedding plus learned positions.
    public var embeddingParameters: Double {
        Double(vocabularySize + (learnedPositions ? maxPositions : 0)) * Double(hiddenSize)
    }

    /// The output projection's own parameters (0 when tied to the embedding).
    public var outputParameters: Double { tiedEmbeddings ? 0 : Double(vocabularySize) * Double(hiddenSize) }

    public var finalNormParameters: Double { Double(layerNormWithBias ? 2 : 1) * Double(hiddenSize) }

    /// Parameters of layer `index`: those sharded over experts (`expert`) and all others (`dense`).
    public func layerParameters(_ index: Int) -> (dense: Double, expert: Double) {
        let shared = attentionMatrixParameters + layerVectorParameters
        if isMoELayer(index) {
            return (shared + sharedExpertAndRouterParameters, routedExpertParameters)
        }
        return (shared + denseMLPParameters, 0)
    }

    /// Matrix parameters of layer `index` (or of prediction module `index − layers`'s block) that tensor parallelism
    /// keeps whole on every rank: latent attention's down-projections, whose latents every head reads (h × q rank,
    /// h × (kv rank + rotary key)), and an MoE layer's router (h × experts). DeepSeek's `inference/model.py` keeps
    /// `wq_a` and `wkv_a` as plain, replicated `Linear` layers and the `Gate` whole, with `wq_b`/`wkv_b`
    /// column-parallel and `wo` row-parallel; Megatron-Core's MLA layer spec (`gpt_layer_specs.py`) builds
    /// `linear_q_down_proj` and `linear_kv_down_proj` as `TELinear`, not split over tp. Each tp rank holds them, their
    /// gradients and optimizer states whole; 0 for other layers.
    public func unsplitMatrixParameters(_ index: Int) -> Double {
        let h = Double(hiddenSize)
        var count = 0.0
        if let mla = latentAttention {
            count += h * Double(mla.queryRank) + h * Double(mla.keyValueRank + mla.ropeHeadDim)
        }
        if isMoELayer(index), let moe { count += h * Double(moe.experts) }
        return count
    }

    /// Matrix parameters one token multiplies through in layer `index` (routed experts: only the top-k).
    public func activeMatrixParameters(_ index: Int) -> Double {
        guard isMoELayer(index), let moe else { return attentionMatrixParameters + denseMLPParameters }
        let expert = routedExpertParameters / Double(moe.experts)
        return attentionMatrixParameters + sharedExpertAndRouterParameters + Double(moe.expertsPerToken) * expert
    }

    // MARK: Multi-token prediction

    /// The layer index of prediction module `k` (0-based) and so its layer type: it follows the model's last layer
    /// (DeepSeek-V3's module is `model.layers.61` of its released weights, MLA with MoE, as a summary of their
    /// README_WEIGHTS.md says).
    func predictionLayer(_ k: Int) -> Int { layers + k }

    /// Parameters of prediction module `k` (0-based, ``predictionModules``) besides the shared embedding and head:
    /// its block, the 2h × h projection and three RMSNorms (the hidden state's, the embedding's and the head's own;
    /// `hnorm`, `enorm` and `shared_head.norm` in DeepSeek-V3's released weights, names recalled, not re-read).
    public func predictionModuleParameters(_ k: Int) -> (dense: Double, expert: Double) {
        let h = Double(hiddenSize)
        let block = layerParameters(predictionLayer(k))
        return (block.dense + 2 * h * h + 3 * h, block.expert)
    }

    /// Matrix parameters one token multiplies through in prediction module `k`: its block's active ones and the
    /// projection (the shared head apart).
    public func predictionModuleActiveMatrices(_ k: Int) -> Double {
        activeMatrixParameters(predictionLayer(k)) + 2 * Double(hiddenSize) * Double(hiddenSize)
    }

    /// All parameters.
    public var totalParameters: Double {
        var total = embeddingParameters + outputParameters + finalNormParameters
        for index in 0..<layers {
            let p = layerParameters(index)
            total += p.dense + p.expert
        }
        return total
    }

    /// Parameters one token uses (the "active" count of an MoE model): everything but unvisited experts.
    public var activeParameters: Double {
        guard let moe else { return totalParameters }
        let unvisited = Double(moe.experts - moe.expertsPerToken) / Double(moe.experts) * routedExpertParameters
        let moeLayers = (0..<layers).filter(isMoELayer).count
        return totalParameters - Double(moeLayers) * unvisited
    }

    // MARK: Attention and KV cache

    /// KV-cache elements per token per layer: keys and values of every KV head, or the latent plus the
    /// rotary key for latent attention (DeepSeek-V2, §2.1.2).
    public var keyValueCacheElementsPerTokenPerLayer: Int {
        if let mla = latentAttention { return mla.keyValueRank + mla.ropeHeadDim }
        return 2 * keyValueHeads * headDim
    }
}
