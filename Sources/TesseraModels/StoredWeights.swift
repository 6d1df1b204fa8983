import TesseraNN
import TesseraTensor

/// How a checkpoint's matrix weights are held in memory.
public enum WeightFormat: String, Sendable, Hashable, CaseIterable {
    /// Every weight dequantized into a Float32 ``Parameter``: trainable, and exactly today's numbers.
    case float32
    /// Linear weights, the embedding and the head kept in the checkpoint's stored type (F32, F16, BF16, Q8_0,
    /// Q4_0, Q4_1, Q5_0, Q4_K, Q6_K) and multiplied in place: about the file's size in memory, inference only.
    case stored
}

/// Supplies the weights a ``Transformer`` keeps in their stored type for inference.
public protocol StoredWeightSource {
    /// This rank's shard of `spec`'s tensor as a matrix in its stored type: `[local output features, input features]`
    /// for a linear weight (whatever its Hugging Face ``WeightLayout``), the shard's real vocabulary rows
    /// `[rows, hidden]` for an embedding or head; `nil` keeps the tensor as a Float32 parameter.
    /// - Throws: when the tensor is missing, has the wrong shape, or its type has no kernel.
    func storedMatrix(for spec: ParameterSpec) throws -> QuantizedMatrix?
}

/// Matrices already split for one rank (an engine handing its stored weights to another engine on the same layout).
public struct StoredMatrices: StoredWeightSource {
    public let matrices: [String: QuantizedMatrix]

    public init(_ matrices: [String: QuantizedMatrix]) { self.matrices = matrices }

    public func storedMatrix(for spec: ParameterSpec) throws -> QuantizedMatrix? { matrices[spec.name] }
}

extension TransformerConfig {
    /// Whether the parameter `name` is a matrix a model may keep in its stored type: a linear layer's weight, the
    /// token embedding or the head (norms, biases, learned positions and mixture-of-experts experts, whose layer
    /// multiplies Float32 parameters, stay Float32).
    func canKeepStored(_ name: String) -> Bool {
        switch family.huggingFace.role(of: name) {
        case .tokenEmbedding, .head: return true
        case let .block(_, module, component): return component == .weight && !module.isNorm
        case .positionEmbedding, .finalNorm, .expert, nil: return false
        }
    }
}
