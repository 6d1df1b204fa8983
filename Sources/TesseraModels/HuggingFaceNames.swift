import TesseraParallel

/// How Hugging Face transformers names a family: its `model_type`, its model class, the keys of its `config.json`,
/// and its parameter names (which are also Tessera's own parameter names).
public struct HuggingFaceNaming: Sendable, Hashable {
    /// The `config.json` key set a family uses.
    public enum ConfigKeys: Sendable, Hashable {
        /// `n_embd`, `n_layer`, `n_head`, `n_inner`, `n_positions`, `layer_norm_epsilon`, `activation_function`.
        case gpt2
        /// `hidden_size`, `num_hidden_layers`, `num_attention_heads`, `num_key_value_heads`, `intermediate_size`,
        /// `max_position_embeddings`, `rms_norm_eps`, `rope_theta`, `hidden_act`.
        case llama
    }

    /// Where a mixture-of-experts family keeps its expert sizes in `config.json` (on top of the Llama keys).
    public enum ExpertKeys: Sendable, Hashable {
        /// `num_local_experts`; `intermediate_size` is the expert's; top-k always renormalized.
        case mixtral
        /// `num_experts`, `moe_intermediate_size`, `norm_topk_prob`, `shared_expert_intermediate_size`,
        /// `decoder_sparse_step`, `mlp_only_layers`.
        case qwen2MoE
        /// `num_experts`, `norm_topk_prob` (default false); `intermediate_size` is the expert's; `clip_qkv` must be null.
        case olmoe
    }

    /// Routed experts' names inside a block: `<prefix><expert>.<projection>.weight`.
    public struct ExpertNames: Sendable, Hashable {
        let prefix: String
        let projections: [ExpertProjection: String]
    }

    /// Parameter names: fixed names for the model-wide tensors, `<blockPrefix><layer>.<module>.<weight|bias>` in blocks.
    public struct TensorNames: Sendable, Hashable {
        let tokenEmbedding: String
        let positionEmbedding: String?
        /// The final norm's module (`.weight`/`.bias` appended).
        let finalNorm: String
        let head: String
        let blockPrefix: String
        var modules: [BlockModule: String]
        /// Routed experts, for mixture-of-experts families.
        var experts: ExpertNames? = nil
    }

    /// `model_type` in `config.json`.
    public let modelType: String
    /// The `architectures` entry transformers instantiates.
    public let modelClass: String
    public let configKeys: ConfigKeys
    /// The expert keys of a mixture-of-experts family (`nil`: dense).
    public var expertKeys: ExpertKeys? = nil
    /// `tie_word_embeddings` when `config.json` does not say (transformers' default for the model type).
    public let tiedByDefault: Bool
    /// Boolean `config.json` keys whose true value this family cannot honour: refused when true, written as false.
    public let falseFlags: [String]
    public let names: TensorNames

    /// The name of the parameter `role` (a `.head` role names the untied head; a tied head is the embedding).
    public func name(of role: ParameterRole) -> String {
        switch role {
        case .tokenEmbedding: return names.tokenEmbedding
        case .positionEmbedding:
            guard let name = names.positionEmbedding else { preconditionFailure("\(modelType) has no learned positions") }
            return name
        case let .finalNorm(component): return "\(names.finalNorm).\(component.rawValue)"
        case .head: return names.head
        case let .block(layer, module, component):
            guard let path = names.modules[module] else { preconditionFailure("\(modelType) has no \(module) module") }
            return "\(names.blockPrefix)\(layer).\(path).\(component.rawValue)"
        case let .expert(layer, expert, projection):
            guard let experts = names.experts, let path = experts.projections[projection] else {
                preconditionFailure("\(modelType) has no routed experts")
            }
            return "\(names.blockPrefix)\(layer).\(experts.prefix)\(expert).\(path).weight"
        }
    }

    /// The role of the parameter called `name`, or `nil` when this family has no such name.
    public func role(of name: String) -> ParameterRole? {
        if name == names.tokenEmbedding { return .tokenEmbedding }
        if name == names.positionEmbedding { return .positionEmbedding }
        if name == names.head { return .head }
        let dot = name.lastIndex(of: ".") ?? name.endIndex
        guard dot < name.endIndex, let component = ParameterComponent(rawValue: String(name[name.index(after: dot)...])) else { return nil }
        let module = name[..<dot]
        if module == names.finalNorm { return .finalNorm(component) }
        guard module.hasPrefix(names.blockPrefix) else { return nil }
        let rest = module.dropFirst(names.blockPrefix.count)
        guard let layerEnd = rest.firstIndex(of: "."), let layer = Int(rest[..<layerEnd]) else { return nil }
        let path = rest[rest.index(after: layerEnd)...]
        if let experts = names.experts, path.hasPrefix(experts.prefix), component == .weight {
            let inside = path.dropFirst(experts.prefix.count)
            guard let end = inside.firstIndex(of: "."), let expert = Int(inside[..<end]),
                  let projection = experts.projections.first(where: { $0.value == inside[inside.index(after: end)...] })?.key else { return nil }
            return .expert(layer: layer, expert: expert, projection)
        }
        guard let found = names.modules.first(where: { $0.value == path })?.key else { return nil }
        return .block(layer: layer, found, component)
    }
}

extension HuggingFaceNaming.TensorNames {
    /// `GPT2LMHeadModel`: `transformer.h.<i>.attn.c_attn`, …
    static let gpt2 = Self(
        tokenEmbedding: "transformer.wte.weight", positionEmbedding: "transformer.wpe.weight", finalNorm: "transformer.ln_f",
        head: "lm_head.weight", blockPrefix: "transformer.h.",
        modules: [.attentionNorm: "ln_1", .queryKeyValue: "attn.c_attn", .attentionOutput: "attn.c_proj", .mlpNorm: "ln_2",
                  .up: "mlp.c_fc", .down: "mlp.c_proj"])

    /// `LlamaForCausalLM` and the models that copy its layout: `model.layers.<i>.self_attn.q_proj`, …
    static let llama = Self(
        tokenEmbedding: "model.embed_tokens.weight", positionEmbedding: nil, finalNorm: "model.norm", head: "lm_head.weight",
        blockPrefix: "model.layers.",
        modules: [.attentionNorm: "input_layernorm", .query: "self_attn.q_proj", .key: "self_attn.k_proj",
                  .value: "self_attn.v_proj", .attentionOutput: "self_attn.o_proj", .mlpNorm: "post_attention_layernorm",
                  .gate: "mlp.gate_proj", .up: "mlp.up_proj", .down: "mlp.down_proj"])
}

extension HuggingFaceNaming.TensorNames {
    /// `MixtralForCausalLM`: Llama's attention, `block_sparse_moe.gate` and `block_sparse_moe.experts.<e>.w1/w3/w2`
    /// (gate, up, down).
    static let mixtral: Self = {
        var names = Self.llama
        names.modules = names.modules.filter { ![.gate, .up, .down].contains($0.key) }
        names.modules[.router] = "block_sparse_moe.gate"
        names.experts = .init(prefix: "block_sparse_moe.experts.", projections: [.gate: "w1", .up: "w3", .down: "w2"])
        return names
    }()

    /// `Qwen2MoeForCausalLM`: `mlp.gate`, `mlp.experts.<e>.gate_proj/up_proj/down_proj`,
    /// `mlp.shared_expert.*` and `mlp.shared_expert_gate`.
    static let qwen2MoE: Self = {
        var names = Self.llama
        names.modules = names.modules.filter { ![.gate, .up, .down].contains($0.key) }
        names.modules.merge([.router: "mlp.gate", .sharedGate: "mlp.shared_expert.gate_proj", .sharedUp: "mlp.shared_expert.up_proj",
                             .sharedDown: "mlp.shared_expert.down_proj", .sharedExpertGate: "mlp.shared_expert_gate"]) { $1 }
        names.experts = .init(prefix: "mlp.experts.", projections: [.gate: "gate_proj", .up: "up_proj", .down: "down_proj"])
        return names
    }()
}

extension HuggingFaceNaming.TensorNames {
    /// `OlmoeForCausalLM`: Llama's attention plus `self_attn.q_norm` and `self_attn.k_norm`, `mlp.gate` and
    /// `mlp.experts.<e>.gate_proj/up_proj/down_proj` (no shared expert).
    static let olmoe: Self = {
        var names = Self.qwen2MoE
        names.modules = names.modules.filter { ![.sharedGate, .sharedUp, .sharedDown, .sharedExpertGate].contains($0.key) }
        names.modules.merge([.queryNorm: "self_attn.q_norm", .keyNorm: "self_attn.k_norm"]) { $1 }
        return names
    }()
}

extension HuggingFaceNaming {
    public static let olmoe = HuggingFaceNaming(
        modelType: "olmoe", modelClass: "OlmoeForCausalLM", configKeys: .llama, expertKeys: .olmoe, tiedByDefault: false,
        falseFlags: ["attention_bias"], names: .olmoe)

    public static let mixtral = HuggingFaceNaming(
        modelType: "mixtral", modelClass: "MixtralForCausalLM", configKeys: .llama, expertKeys: .mixtral, tiedByDefault: false,
        falseFlags: [], names: .mixtral)

    public static let qwen2MoE = HuggingFaceNaming(
        modelType: "qwen2_moe", modelClass: "Qwen2MoeForCausalLM", configKeys: .llama, expertKeys: .qwen2MoE, tiedByDefault: false,
        falseFlags: ["use_sliding_window"], names: .qwen2MoE)

    public static let gpt2 = HuggingFaceNaming(
        modelType: "gpt2", modelClass: "GPT2LMHeadModel", configKeys: .gpt2, tiedByDefault: true, falseFlags: [], names: .gpt2)

    public static let llama = HuggingFaceNaming(
        modelType: "llama", modelClass: "LlamaForCausalLM", configKeys: .llama, tiedByDefault: false,
        falseFlags: ["attention_bias", "mlp_bias"], names: .llama)

    public static let qwen2 = HuggingFaceNaming(
        modelType: "qwen2", modelClass: "Qwen2ForCausalLM", configKeys: .llama, tiedByDefault: false,
        falseFlags: ["use_sliding_window"], names: .llama)
}
