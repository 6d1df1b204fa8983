import TesseraParallel

/// Built-in model configurations.
extension TransformerConfig {
    /// Names accepted by ``preset(named:)``.
    public static let presetNames = ["tiny", "tiny-gpt2", "tiny-moe", "small-moe", "small-qwen-moe", "demo", "gpt2-small", "smollm2-135m"]

    /// A built-in configuration:
    /// - `tiny`: a Llama with grouped-query attention for tests (byte vocabulary, 2 layers, hidden 64).
    /// - `tiny-gpt2`: the GPT-2 counterpart.
    /// - `tiny-moe`: a byte-level Mixtral for benchmarks (8 experts, top-2, 2 layers, hidden 64, expert size 128,
    ///   load-balancing loss on with transformers' default coefficient 0.001).
    /// - `small-moe`: a byte-level Mixtral with the `demo` preset's shape (4 layers, hidden 256, 8 heads, 4 key/value
    ///   heads, context 256) whose MLPs are 8 experts of 768 features, top-2, load-balancing loss on (0.001):
    ///   Mixtral's proportions (experts 3× hidden against Mixtral-8x7B's 14336 / 4096 = 3.5×, 8 experts, top-2; the
    ///   `intermediate_size`, `hidden_size`, `num_local_experts` and `num_experts_per_tok` of
    ///   huggingface.co/mistralai/Mixtral-8x7B-Instruct-v0.1's config.json) at a size that trains on 2 cores, so a
    ///   benchmark weighs expert work, attention and communication as a real small MoE does (`tiny-moe`'s experts are
    ///   about 0.1 ms of work each per benchmark step, the order of one collective's latency).
    /// - `small-qwen-moe`: a byte-level Qwen2-MoE of `small-moe`'s shape with an always-active shared expert behind its
    ///   sigmoid gate, so a benchmark can weigh the shared expert's overlap with the all-to-all: 8 experts of 176
    ///   features, top-4 without renormalization, shared expert of 704, load-balancing loss on (0.001). Qwen1.5-MoE-A2.7B's
    ///   proportions (huggingface.co/Qwen/Qwen1.5-MoE-A2.7B config.json: hidden 2048, `moe_intermediate_size` 1408 =
    ///   0.6875 × hidden, `shared_expert_intermediate_size` 5632 = 4 experts, top-4, `norm_topk_prob` false) with 8
    ///   experts instead of 60.
    /// - `demo`: a byte-level Llama (vocabulary 256, 4 layers, hidden 256, context 256, ~3.4M parameters)
    ///   that learns visibly in a few minutes on 2 cores.
    /// - `gpt2-small`: GPT-2 124M (Radford et al. 2019).
    /// - `smollm2-135m`: SmolLM2-135M (Hugging Face 2024: 30 layers, hidden 576, 9 heads, 3 kv heads).
    /// - Throws: ``ModelError/unknownPreset(name:available:)``.
    public static func preset(named name: String) throws -> TransformerConfig {
        switch name {
        case "tiny":
            return .llama(vocabularySize: 256, contextLength: 64, hiddenSize: 64, layers: 2, heads: 4, kvHeads: 2,
                          intermediateSize: 128, tiedEmbeddings: true)
        case "tiny-gpt2":
            return .gpt2(vocabularySize: 256, contextLength: 64, hiddenSize: 64, layers: 2, heads: 4)
        case "tiny-moe":
            return byteMixtral(contextLength: 64, hiddenSize: 64, layers: 2, heads: 4, kvHeads: 2, expertSize: 128)
        case "small-moe":
            return byteMixtral(contextLength: 256, hiddenSize: 256, layers: 4, heads: 8, kvHeads: 4, expertSize: 768)
        case "small-qwen-moe":
            var config = TransformerConfig(family: .qwen2MoE, vocabularySize: 256, contextLength: 256, hiddenSize: 256, layers: 4,
                                           heads: 8, kvHeads: 4, intermediateSize: 704, tiedEmbeddings: false)
            config.moe = MixtureOfExperts(router: RouterConfiguration(experts: 8, topK: 4, normalizesTopK: false, includesAuxiliaryLoss: true),
                                          expertIntermediateSize: 176, sharedExpertIntermediateSize: 704)
            return config
        case "demo":
            return .llama(vocabularySize: 256, contextLength: 256, hiddenSize: 256, layers: 4, heads: 8, kvHeads: 4,
                          intermediateSize: 768, tiedEmbeddings: true)
        case "gpt2-small":
            var config = TransformerConfig.gpt2(vocabularySize: 50257, contextLength: 1024, hiddenSize: 768, layers: 12, heads: 12)
            config.bosTokenId = 50256
            config.eosTokenId = 50256
            return config
        case "smollm2-135m":
            var config = TransformerConfig.llama(vocabularySize: 49152, contextLength: 8192, hiddenSize: 576, layers: 30, heads: 9,
                                                 kvHeads: 3, intermediateSize: 1536, ropeTheta: 100_000, epsilon: 1e-5,
                                                 tiedEmbeddings: true)
            config.initializerRange = 0.041666666666666664
            config.bosTokenId = 0
            config.eosTokenId = 0
            return config
        default:
            throw ModelError.unknownPreset(name: name, available: presetNames)
        }
    }

    /// A byte-level Mixtral of 8 experts of `expertSize` features, top-2, with the load-balancing loss on
    /// (transformers' default coefficient 0.001): the mixture-of-experts presets.
    private static func byteMixtral(contextLength: Int, hiddenSize: Int, layers: Int, heads: Int, kvHeads: Int, expertSize: Int) -> TransformerConfig {
        var config = TransformerConfig(family: .mixtral, vocabularySize: 256, contextLength: contextLength, hiddenSize: hiddenSize,
                                       layers: layers, heads: heads, kvHeads: kvHeads, intermediateSize: expertSize, tiedEmbeddings: false)
        config.moe = MixtureOfExperts(router: RouterConfiguration(experts: 8, topK: 2, normalizesTopK: true, includesAuxiliaryLoss: true),
                                      expertIntermediateSize: expertSize)
        return config
    }

    /// A preset name, or a path to a `config.json` or a model directory.
    public static func named(_ nameOrPath: String) throws -> TransformerConfig {
        if presetNames.contains(nameOrPath) { return try preset(named: nameOrPath) }
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".json") { return try TransformerConfig(contentsOf: nameOrPath) }
        throw ModelError.unknownPreset(name: nameOrPath, available: presetNames)
    }
}
