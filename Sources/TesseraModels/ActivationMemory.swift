import TesseraParallel

/// The activation memory of a micro-batch, predicted from the configuration alone, so the memory report can be
/// printed before the first step.
extension TransformerConfig {
    /// Bytes a chunk's forward pass saves for its backward pass for one micro-batch of `batch × length` tokens on
    /// tensor-parallel rank `rank` of `tp`: exactly what ``ChunkState/savedActivationBytes`` holds after that forward.
    ///
    /// Per block, with `T` tokens and `rows = T` (or `T / tp` with sequence parallelism): the two norm outputs, the
    /// residual and the block output (`rows × hidden` each) and the two norms' statistics (`2 × rows` each) on
    /// the sequence shard; the rotated queries, keys and values, the attention output and its log-sum-exp, the
    /// MLP's up (and gate) projection and activation on this rank's heads and features (`T × width / tp`). Plus the
    /// chunk input (`rows × hidden`) and, on the last chunk, the final norm, this rank's logits and the per-token
    /// losses. The attention probabilities are recomputed in the backward pass, never stored, so there is no
    /// `heads × length²` term. With sequence parallelism every term is divided by tp, so the bytes per rank fall
    /// as 1/tp; without it the norm and residual terms stay whole on every rank (Korthikanti et al. 2022,
    /// "Reducing Activation Recomputation in Large Transformer Models", section 4.2).
    ///
    /// Recomputation keeps less: `selective` drops the attention output and its log-sum-exp (rebuilt before the
    /// backward pass in a scratch shared by every micro-batch, ``recomputationScratchBytes(batch:length:tp:rank:sequenceParallel:blocks:recompute:)``);
    /// `full` keeps only each block's output (`rows × hidden`), the next block's input.
    ///
    /// - Parameters:
    ///   - layers: the chunk's layers (default: all, one chunk); the last chunk also holds the head.
    ///   - targets: whether the micro-batch has targets (the per-token losses are kept).
    ///   - recompute: what the backward pass recomputes.
    /// - Precondition: with sequence parallelism `batch × length` divides by `tp` (as ``MicroBatch/validate(for:tp:sequenceParallel:)`` requires).
    public func savedActivationBytes(batch: Int, length: Int, tp: Int = 1, rank: Int = 0, sequenceParallel: Bool = false,
                                     layers: Range<Int>? = nil, targets: Bool = true, recompute: Recomputation = .none) -> Int {
        let tokens = batch * length, rows = sequenceParallel && tp > 1 ? tokens / tp : tokens
        let h = hiddenSize
        let whole = blockActivationFloats(tokens: tokens, tp: tp, rank: rank, sequenceParallel: sequenceParallel)
        let block: Int
        switch recompute {
        case .none: block = whole
        case .selective: block = whole - attentionCoreFloats(tokens: tokens, tp: tp, rank: rank)
        case .full: block = rows * h
        }
        let range = layers ?? 0..<self.layers
        var floats = rows * h + range.count * block
        if range.upperBound == self.layers {
            floats += rows * h + 2 * rows + tokens * vocabularyShare(tp: tp, rank: rank).count + (targets ? tokens : 0)
        }
        return floats * MemoryLayout<Float>.stride
    }

    /// Bytes of the scratch recomputation rebuilds activations in, shared by every micro-batch of a chunk of
    /// `blocks` blocks on tensor-parallel rank `rank` of `tp`: the attention core (`selective`) or a whole block
    /// for each of the (at most two) scratch states the backward pass alternates between (`full`).
    public func recomputationScratchBytes(batch: Int, length: Int, tp: Int = 1, rank: Int = 0, sequenceParallel: Bool = false,
                                          blocks: Int, recompute: Recomputation) -> Int {
        let tokens = batch * length
        switch recompute {
        case .none: return 0
        case .selective: return attentionCoreFloats(tokens: tokens, tp: tp, rank: rank) * MemoryLayout<Float>.stride
        case .full:
            return min(2, blocks) * blockActivationFloats(tokens: tokens, tp: tp, rank: rank, sequenceParallel: sequenceParallel)
                * MemoryLayout<Float>.stride
        }
    }

    /// Floats one block keeps for its backward pass without recomputation (its input is counted by its owner).
    private func blockActivationFloats(tokens: Int, tp: Int, rank: Int, sequenceParallel: Bool) -> Int {
        let rows = sequenceParallel && tp > 1 ? tokens / tp : tokens
        let h = hiddenSize, d = attention.headDim
        let heads = queryHeads(tp: tp, rank: rank).count, kvHeads = keyValueHeads(tp: tp, rank: rank).count
        let features = mlpFeatures(tp: tp, rank: rank).count, upWidth = mlp.activation == .swiglu ? 2 * features : features
        return 4 * rows * h + 2 * (2 * rows)
            + tokens * (heads + 2 * kvHeads) * d + attentionCoreFloats(tokens: tokens, tp: tp, rank: rank)
            + tokens * (upWidth + features)
    }

    /// Floats of the attention output and its log-sum-exp on this rank's heads.
    private func attentionCoreFloats(tokens: Int, tp: Int, rank: Int) -> Int {
        let heads = queryHeads(tp: tp, rank: rank).count
        return tokens * heads * attention.headDim + tokens * heads
    }
}
