/// Where and how llama.cpp's converter (convert_hf_to_gguf.py) stores a Hugging Face parameter in a GGUF
/// file: its llama.cpp name and the change of layout on the way.
public struct GGUFTensorLayout: Sendable, Hashable {
    /// The change from the Hugging Face tensor to the stored one (undone when reading).
    public enum Transform: Sendable, Hashable {
        /// Stored as in Hugging Face.
        case none
        /// Stored transposed: GPT-2's `Conv1D` weights, `[in, out]` in Hugging Face, are written `[out, in]` like
        /// every other llama.cpp weight (`GPT2Model.modify_tensors` transposes `c_attn`, `c_proj` and `c_fc`).
        case transposed
        /// Rows reordered per head for llama.cpp's rotary layout (see ``RotaryPermutation``): Llama's `q_proj`
        /// with the query heads, `k_proj` with the key/value heads.
        case rotaryPermuted(heads: Int)
    }

    /// The llama.cpp name (`blk.0.attn_qkv.weight`).
    public let name: String
    public let transform: Transform
}

extension TransformerConfig {
    /// The GGUF name and layout of the Hugging Face parameter `name` for this architecture
    /// (`model.layers.3.self_attn.q_proj.weight` → `blk.3.attn_q.weight`, rotary-permuted;
    /// `transformer.h.3.attn.c_attn.weight` → `blk.3.attn_qkv.weight`, transposed). A name of another
    /// architecture is returned unchanged.
    public func ggufLayout(of name: String) -> GGUFTensorLayout {
        let parts = name.split(separator: ".").map(String.init)
        switch architecture {
        case .llama:
            let fixed = ["model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                         "lm_head.weight": "output.weight"]
            if let stored = fixed[name] { return GGUFTensorLayout(name: stored, transform: .none) }
            guard parts.count >= 5, parts[0] == "model", parts[1] == "layers" else { return GGUFTensorLayout(name: name, transform: .none) }
            let modules = ["input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "q_proj": "attn_q",
                           "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output", "gate_proj": "ffn_gate",
                           "up_proj": "ffn_up", "down_proj": "ffn_down"]
            let module = parts[parts.count - 2]
            let transform: GGUFTensorLayout.Transform = switch module {
            case "q_proj": .rotaryPermuted(heads: attention.heads)
            case "k_proj": .rotaryPermuted(heads: attention.kvHeads)
            default: .none
            }
            return GGUFTensorLayout(name: "blk.\(parts[2]).\(modules[module] ?? module).\(parts.last!)", transform: transform)
        case .gpt2:
            let fixed = ["transformer.wte.weight": "token_embd.weight", "transformer.wpe.weight": "position_embd.weight",
                         "transformer.ln_f.weight": "output_norm.weight", "transformer.ln_f.bias": "output_norm.bias",
                         "lm_head.weight": "output.weight"]
            if let stored = fixed[name] { return GGUFTensorLayout(name: stored, transform: .none) }
            guard parts.count >= 5, parts[0] == "transformer", parts[1] == "h" else { return GGUFTensorLayout(name: name, transform: .none) }
            let modules = ["ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
                           "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"]
            let module = parts[3..<(parts.count - 1)].joined(separator: ".")
            let isConv1DWeight = parts.last == "weight" && module.contains(".")
            return GGUFTensorLayout(name: "blk.\(parts[2]).\(modules[module] ?? module).\(parts.last!)",
                                    transform: isConv1DWeight ? .transposed : .none)
        }
    }
}
