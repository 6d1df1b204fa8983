import TesseraTensor

/// Where a linear layer's or an embedding's weight lives.
///
/// Training holds every weight as a Float32 ``Parameter`` in the ``ParameterStore`` (values, gradients, optimizer
/// moments). Inference can instead keep a weight as the checkpoint stores it (``QuantizedMatrix``: F32, F16, BF16
/// or a block-quantized type), multiplied in place through ``ComputeBackend/matmul(_:ldx:stored:into:ldy:rows:rowStable:)``:
/// no Float32 copy, no gradient, no optimizer state. A stored matrix is always `[outFeatures, inFeatures]` (an
/// embedding table `[vocabulary rows, hidden]`), whatever ``WeightLayout`` the Float32 parameter would have.
public enum LayerWeight: @unchecked Sendable {
    /// A trainable Float32 parameter.
    case parameter(Parameter)
    /// A matrix in its stored type, for inference only.
    case stored(QuantizedMatrix)

    /// The parameter, or `nil` for a stored matrix.
    public var parameter: Parameter? {
        if case let .parameter(parameter) = self { return parameter }
        return nil
    }

    /// The trainable parameter; a backward pass through a stored weight is a bug in the caller (engines refuse to
    /// train a model with stored weights before any pass runs).
    public var trainable: Parameter {
        guard let parameter else { preconditionFailure("a weight kept in its stored type is for inference only; it has no gradient") }
        return parameter
    }
}
