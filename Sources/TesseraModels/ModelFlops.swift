/// Floating-point operations of the model, for pipeline balancing and model FLOP/s (MFU).
///
/// Counted as matrix-product FLOPs (2 per multiply-add) of one token's forward pass; training is three
/// times that (the backward pass computes input and weight gradients, each as costly as the forward:
/// Kaplan et al. 2020, §2.1). Attention counts its scores and weighted sum over all `T` positions of the
/// sequence (`4·T·q`), as Megatron's and PaLM's MFU do (Chowdhery et al. 2022, Appendix B), although the
/// causal kernel skips the masked half.
extension TransformerConfig {
    /// Forward FLOPs of one token through one transformer layer with sequences of `sequenceLength`.
    public func layerForwardFlops(sequenceLength: Int) -> Double {
        let h = Double(hiddenSize), q = Double(attention.heads * attention.headDim)
        let kv = Double(attention.kvHeads * attention.headDim), f = Double(mlp.intermediateSize)
        let projections = 2 * h * (q + 2 * kv) + 2 * q * h
        let mlpProducts = 2 * h * f * (mlp.activation == .swiglu ? 3 : 2)
        return projections + mlpProducts + 4 * Double(sequenceLength) * q
    }

    /// Forward FLOPs of one token through the LM head.
    public var headForwardFlops: Double { 2 * Double(hiddenSize) * Double(vocabularySize) }

    /// Model FLOPs of one training token (forward and backward): `3 · (layers · layer + head)`.
    public func trainingFlopsPerToken(sequenceLength: Int) -> Double {
        3 * (Double(layers) * layerForwardFlops(sequenceLength: sequenceLength) + headForwardFlops)
    }
}
