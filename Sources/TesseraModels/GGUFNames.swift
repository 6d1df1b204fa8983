import TesseraParallel

/// How llama.cpp names a family in GGUF files: its `general.architecture` (also the prefix of its `{arch}.*` metadata
/// keys) and whether its converter reorders query and key rows. Tensor names are llama.cpp's and the same for every
/// family (gguf-py `constants.py`, `TENSOR_NAMES`).
public struct GGUFNaming: Sendable, Hashable {
    /// `general.architecture`.
    public let architecture: String
    /// Whether llama.cpp's converter permutes query and key rows per head for its interleaved rotary layout
    /// (`LlamaModel.modify_tensors`); families llama.cpp runs with half-rotation ("NeoX") rotary, such
    /// as Qwen2, are stored in the Hugging Face order.
    public let permutesRotaryRows: Bool

    public static let gpt2 = GGUFNaming(architecture: "gpt2", permutesRotaryRows: false)
    public static let llama = GGUFNaming(architecture: "llama", permutesRotaryRows: true)
    public static let qwen2 = GGUFNaming(architecture: "qwen2", permutesRotaryRows: false)
    public static let qwen2MoE = GGUFNaming(architecture: "qwen2moe", permutesRotaryRows: false)
    /// llama.cpp runs OLMoE with half-rotation rotary (`LLAMA_ROPE_TYPE_NEOX`), so its converter keeps the rows.
    public static let olmoe = GGUFNaming(architecture: "olmoe", permutesRotaryRows: false)

    /// llama.cpp's name of the parameter `role` (`blk.3.attn_q.weight`).
    public static func name(of role: ParameterRole) -> String {
        switch role {
        case .tokenEmbedding: return "token_embd.weight"
        case .positionEmbedding: return "position_embd.weight"
        case let .finalNorm(component): return "output_norm.\(component.rawValue)"
        case .head: return "output.weight"
        case let .block(layer, module, component):
            let stored = switch module {
            case .attentionNorm: "attn_norm"
            case .queryKeyValue: "attn_qkv"
            case .query: "attn_q"
            case .key: "attn_k"
            case .value: "attn_v"
            case .attentionOutput: "attn_output"
            case .queryNorm: "attn_q_norm"
            case .keyNorm: "attn_k_norm"
            case .mlpNorm: "ffn_norm"
            case .gate: "ffn_gate"
            case .up: "ffn_up"
            case .down: "ffn_down"
            case .router: "ffn_gate_inp"
            case .sharedGate: "ffn_gate_shexp"
            case .sharedUp: "ffn_up_shexp"
            case .sharedDown: "ffn_down_shexp"
            case .sharedExpertGate: "ffn_gate_inp_shexp"
            }
            return "blk.\(layer).\(stored).\(component.rawValue)"
        case let .expert(layer, _, projection):
            let stored = switch projection {
            case .gate: "ffn_gate_exps"
            case .up: "ffn_up_exps"
            case .down: "ffn_down_exps"
            }
            return "blk.\(layer).\(stored).weight"
        }
    }
}

extension TransformerConfig {
    /// The GGUF name and layout of the Hugging Face parameter `name` for this family
    /// (`model.layers.3.self_attn.q_proj.weight` → `blk.3.attn_q.weight`, rotary-permuted for Llama;
    /// `transformer.h.3.attn.c_attn.weight` → `blk.3.attn_qkv.weight`, transposed). A name the family does not
    /// have is returned unchanged.
    public func ggufLayout(of name: String) -> GGUFTensorLayout {
        guard let role = family.huggingFace.role(of: name) else { return GGUFTensorLayout(name: name, transform: .none) }
        return ggufLayout(of: role)
    }

    /// The GGUF name and layout of the parameter `role`: `[in, out]` linear weights are stored transposed, and
    /// query and key weights permuted where the family's converter does so.
    public func ggufLayout(of role: ParameterRole) -> GGUFTensorLayout {
        let name = GGUFNaming.name(of: role)
        if case let .expert(_, index, _) = role {
            return GGUFTensorLayout(name: name, transform: .stackedExpert(index: index, experts: moe?.router.experts ?? 0))
        }
        guard case let .block(_, module, .weight) = role, !module.isNorm else { return GGUFTensorLayout(name: name, transform: .none) }
        if family.weightLayout == .inputMajor { return GGUFTensorLayout(name: name, transform: .transposed) }
        guard family.gguf.permutesRotaryRows else { return GGUFTensorLayout(name: name, transform: .none) }
        let transform: GGUFTensorLayout.Transform = switch module {
        case .query: .rotaryPermuted(heads: attention.heads)
        case .key: .rotaryPermuted(heads: attention.kvHeads)
        default: .none
        }
        return GGUFTensorLayout(name: name, transform: transform)
    }
}
