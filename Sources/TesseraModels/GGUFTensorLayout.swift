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
        /// One routed expert's matrix, entry `index` of llama.cpp's stacked `[experts, rows, columns]` tensor
        /// (`ffn_gate_exps`, `ffn_up_exps`, `ffn_down_exps`; `LlamaModel.modify_tensors` stacks Mixtral's `w1`/`w3`/`w2`).
        case stackedExpert(index: Int, experts: Int)
    }

    /// The llama.cpp name (`blk.0.attn_qkv.weight`).
    public let name: String
    public let transform: Transform
}
