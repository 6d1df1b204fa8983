import TesseraTensor

/// llama.cpp's reordering of the query and key projection rows.
///
/// Hugging Face Llama checkpoints apply rotary embeddings to the two halves of each head (`rotate_half`: element
/// `j` pairs with `j + headDim/2`); llama.cpp pairs adjacent elements (`2j`, `2j + 1`). Its converter
/// (convert_hf_to_gguf.py, `LlamaModel.permute`) therefore reorders the rows of `q_proj` and `k_proj` per head:
/// `w.reshape(heads, 2, headDim / 2, …).swapaxes(1, 2)`, so row `i · headDim/2 + j` of a head (half `i`, pair `j`)
/// is stored as row `2j + i`. ``unpermute(_:heads:)`` restores the Hugging Face order, ``permute(_:heads:)`` applies
/// llama.cpp's; use the key/value head count for `k_proj`.
///
/// The reordering stays inside each head, so a tensor-parallel rank that reads whole heads (rows
/// `h0 · headDim ..< h1 · headDim`) can unpermute its slice alone with `heads: h1 - h0`.
public enum RotaryPermutation {
    /// Stored (llama.cpp) order → Hugging Face order. Works on weights `[rows, cols]` and biases `[rows]`.
    /// - Throws: ``TensorError/invalidShape(operation:shape:reason:)`` unless the rows split into `heads` heads of
    ///   an even size.
    public static func unpermute(_ tensor: Tensor, heads: Int) throws -> Tensor {
        try reorder(tensor, heads: heads, operation: "RotaryPermutation.unpermute") { half, pair, halfDim in
            (destination: half * halfDim + pair, source: 2 * pair + half)
        }
    }

    /// Hugging Face order → stored (llama.cpp) order, as the GGUF converter writes it.
    public static func permute(_ tensor: Tensor, heads: Int) throws -> Tensor {
        try reorder(tensor, heads: heads, operation: "RotaryPermutation.permute") { half, pair, halfDim in
            (destination: 2 * pair + half, source: half * halfDim + pair)
        }
    }

    private static func reorder(
        _ tensor: Tensor, heads: Int, operation: String,
        _ rowMap: (_ half: Int, _ pair: Int, _ halfDim: Int) -> (destination: Int, source: Int)
    ) throws -> Tensor {
        let rows = tensor.shape.first ?? 0
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw TensorError.invalidShape(operation: operation, shape: tensor.shape,
                                           reason: "\(rows) rows do not split into \(heads) heads of an even size")
        }
        let headDim = rows / heads, halfDim = headDim / 2
        let rowLength = rows == 0 ? 0 : tensor.count / rows
        var result = tensor
        tensor.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { out in
                for head in 0..<heads {
                    for half in 0..<2 {
                        for pair in 0..<halfDim {
                            let map = rowMap(half, pair, halfDim)
                            let to = (head * headDim + map.destination) * rowLength
                            let from = (head * headDim + map.source) * rowLength
                            for k in 0..<rowLength { out[to + k] = source[from + k] }
                        }
                    }
                }
            }
        }
        return result
    }
}
