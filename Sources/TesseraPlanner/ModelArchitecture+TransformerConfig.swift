import TesseraModels

extension ModelArchitecture {
    /// The planner's view of a model Tessera builds: sizes from `config`, and learned positions, gated MLP, biases,
    /// norm and head tying from its ``ModelFamily`` description, so a family added there is planned without a change
    /// here. Tessera trains without dropout. A mixture-of-experts family's every block is sparse: its experts, top-k
    /// and expert sizes come from `config.moe` (none when it gives none, as a block without experts allocates none).
    /// - Parameters:
    ///   - name: the model's name in reports.
    ///   - source: where the configuration comes from.
    public init(_ config: TransformerConfig, name: String, source: String = "") {
        let family = config.family
        let biases: Biases = switch (family.attention.queryKeyValueBiases, family.attention.outputBias) {
        case (true, true): .all
        case (true, false): .queryKeyValue
        default: .none
        }
        self.init(
            name: name, source: source, hiddenSize: config.hiddenSize, layers: config.layers,
            attentionHeads: config.attention.heads, keyValueHeads: config.attention.kvHeads, headDim: config.attention.headDim,
            ffnSize: config.mlp.intermediateSize, vocabularySize: config.vocabularySize, maxPositions: config.contextLength,
            tiedEmbeddings: config.tiedEmbeddings, learnedPositions: family.positions == .learned,
            gatedMLP: family.feedForward.activation == .swiglu, biases: biases, layerNormWithBias: family.norm == .layerNorm,
            dropout: false)
        queryKeyNorms = family.attention.queryKeyNorms
        if family.feedForward.isMixtureOfExperts {
            moe = MixtureOfExperts(
                experts: config.moe?.router.experts ?? 0, expertsPerToken: config.moe?.router.topK ?? 0,
                expertFFNSize: config.moe?.expertIntermediateSize ?? 0,
                sharedFFNSize: config.moe?.sharedExpertIntermediateSize ?? 0, firstDenseLayers: 0, layerFrequency: 1,
                sharedExpertGate: family.feedForward.hasSharedExpert)
        }
    }
}
