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

    /// Parameter names: fixed names for the model-wide tensors, `<blockPrefix><layer>.<module>.<weight|bias>` in blocks.
    public struct TensorNames: Sendable, Hashable {
        let tokenEmbedding: String
        let positionEmbedding: String?
        /// The final norm's module (`.weight`/`.bias` appended).
        let finalNorm: String
        let head: String
        let blockPrefix: String
        let modules: [BlockModule: String]
    }

    /// `model_type` in `config.json`.
    public let modelType: String
    /// The `architectures` entry transformers instantiates.
    public let modelClass: String
    public let configKeys: ConfigKeys
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

extension HuggingFaceNaming {
    public static let gpt2 = HuggingFaceNaming(
        modelType: "gpt2", modelClass: "GPT2LMHeadModel", configKeys: .gpt2, tiedByDefault: true, falseFlags: [], names: .gpt2)

    public static let llama = HuggingFaceNaming(
        modelType: "llama", modelClass: "LlamaForCausalLM", configKeys: .llama, tiedByDefault: false,
        falseFlags: ["attention_bias", "mlp_bias"], names: .llama)

    public static let qwen2 = HuggingFaceNaming(
        modelType: "qwen2", modelClass: "Qwen2ForCausalLM", configKeys: .llama, tiedByDefault: false,
        falseFlags: ["use_sliding_window"], names: .llama)
}
