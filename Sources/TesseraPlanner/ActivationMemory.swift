import TesseraParallel

extension ModelArchitecture {
    /// Activation bytes one transformer layer keeps for backward, for one micro-batch, per device.
    ///
    /// Generalizes Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models", §4) from
    /// GPT to grouped-query, gated-MLP, latent-attention and MoE layers by counting the stored tensors the same way:
    /// norm inputs (2 × 2sbh), the QKV input (2sbh), Q, K and V, the output-projection input, the MLP input and its
    /// intermediates (GeLU: input and output, 2 × 2sbf; SwiGLU: gate, up and product, 3 × 2sbf), dropout masks
    /// (1 byte each, only when the model uses dropout) and the attention probabilities (2as²b, plus mask and dropped
    /// copy, 5as²b, with attention dropout). For GPT this is exactly sbh(34 + 5as/h).
    ///
    /// With tensor parallelism the per-head and per-column tensors are split over `t`; the rest (norm inputs, QKV and
    /// MLP inputs, masks: 10sbh for GPT) is split too only with sequence parallelism. Context parallelism splits the
    /// sequence over `c` ranks. Selective recomputation drops the probabilities; full recomputation keeps only the
    /// layer input (2sbh, sequence-parallel-split when sequence parallelism is on). FlashAttention never stores the
    /// probabilities (it keeps the output and one row statistic per query, O(s), and rebuilds the scores tile by tile
    /// in its backward pass: Dao et al. 2022, "FlashAttention", §3.1), so with it no recomputation keeps no s × s
    /// tensor either.
    ///
    /// - Parameters:
    ///   - layer: 0-based layer index (dense or MoE; from ``layers`` on, a prediction module's block and inputs).
    ///   - sequenceLength: s; microBatch: b; tensorParallel: t; contextParallel: c.
    ///   - flashAttention: attention computed without materializing the scores.
    public func activationBytesPerLayer(
        layer: Int, sequenceLength s: Int, microBatch b: Int, tensorParallel t: Int, contextParallel c: Int = 1,
        sequenceParallel: Bool, recompute: Recomputation, flashAttention: Bool = false
    ) -> Double {
        let tokens = Double(s) * Double(b) / Double(c)
        let t = Double(t)
        let replicatedSplit = sequenceParallel ? t : 1
        if recompute == .full { return PlannerConstants.activationBytes * tokens * Double(hiddenSize) / replicatedSplit }
        let linear = linearActivationBytesPerLayer(layer: layer, tokens: tokens)
        var bytes = linear.replicated / replicatedSplit + linear.split / t
        if recompute == .none && !flashAttention {
            bytes += attentionScoreBytes(sequenceLength: s, microBatch: b, contextParallel: c) / t
        }
        return bytes
    }

    /// The stored bytes that grow linearly with tokens: `replicated` (kept whole on every tensor-parallel rank
    /// unless sequence parallelism splits them) and `split` (divided over tensor-parallel ranks), no parallelism.
    package func linearActivationBytesPerLayer(layer: Int, tokens: Double) -> (replicated: Double, split: Double) {
        let e = PlannerConstants.activationBytes
        let h = Double(hiddenSize)
        let mask = dropout ? 1.0 : 0.0
        // Two norm inputs, QKV input, MLP input, two dropout masks.
        var replicated = tokens * h * (2 * e + e + e + 2 * mask)
        if layer >= layers {
            // A prediction module's own inputs (``predictionModules``): the two normalized tensors' inputs (hidden
            // state and embedding) and the 2h-wide input of its projection.
            replicated += tokens * h * (2 * e + 2 * e)
        }
        var split: Double
        if let mla = latentAttention {
            let a = Double(attentionHeads)
            split = e * tokens * (Double(mla.queryRank + mla.keyValueRank)
                + 2 * a * Double(mla.nopeHeadDim + mla.ropeHeadDim) + a * Double(mla.valueHeadDim))
        } else {
            split = e * tokens * Double(queryWidth + keyValueWidth + keyValueHeads * valueHeadDim)
        }
        split += e * tokens * Double(valueWidth)  // input of the output projection
        let intermediatesPerWidth = gatedMLP ? 3.0 : 2.0
        if isMoELayer(layer), let moe {
            let k = Double(moe.expertsPerToken)
            split += e * tokens * (k * h + intermediatesPerWidth * (k * Double(moe.expertFFNSize) + Double(moe.sharedFFNSize))
                + Double(moe.experts))
        } else {
            split += e * tokens * intermediatesPerWidth * Double(ffnSize)
        }
        return (replicated, split)
    }

    /// The attention probabilities one layer stores without recomputation: 2as²b bytes, 5as²b with attention
    /// dropout (mask and dropped copy); context parallelism keeps each rank's s/c queries against all keys.
    func attentionScoreBytes(sequenceLength s: Int, microBatch b: Int, contextParallel c: Int) -> Double {
        let perElement = dropout ? 5.0 : 2.0
        return perElement * Double(attentionHeads) * Double(s) * Double(s) * Double(b) / Double(c)
    }
}

extension ModelArchitecture {
    /// Stored bytes per layer under DeepSeek-V3's activation recipe (``TrainingLayout/lowPrecisionActivations``;
    /// DeepSeek-AI 2024, "DeepSeek-V3 Technical Report"), no parallelism, in the same two parts as
    /// ``linearActivationBytesPerLayer(layer:tokens:)``:
    /// - "We recompute all RMSNorm operations and MLA up-projections during back-propagation" (§3.2.3): the norm
    ///   outputs (the QKV and MLP inputs) and the per-head queries, keys and values are rebuilt, so only the two norm
    ///   inputs (the residual stream, 16 bits) and MLA's latents (16 bits: the inputs of the norms recomputed) stay;
    /// - "we cache the activations in FP8 for the backward pass of the Linear operator" (§3.3.3), with the output
    ///   projection's input in E5M6 (12 bits); the routed tokens reach their experts in FP8 and stay so;
    /// - the SwiGLU "caches its inputs and recomputes its output" in FP8 (§3.3.3): gate and up, 2 × 1 byte per
    ///   intermediate, and no down-projection input.
    /// The router's logits stay 16-bit. A model without latent attention keeps its Q, K and V as in the standard count.
    package func compactActivationBytesPerLayer(layer: Int, tokens: Double) -> (replicated: Double, split: Double) {
        let e = PlannerConstants.activationBytes, fp8 = 1.0, e5m6 = 1.5
        let h = Double(hiddenSize)
        // A prediction module's two norm inputs stay too; its projection's input is a norm output, rebuilt.
        let replicated = tokens * h * 2 * e * (layer >= layers ? 2 : 1)
        var split: Double
        if let mla = latentAttention {
            split = e * tokens * Double(mla.queryRank + mla.keyValueRank + mla.ropeHeadDim)
        } else {
            split = e * tokens * Double(queryWidth + keyValueWidth + keyValueHeads * valueHeadDim)
        }
        split += e5m6 * tokens * Double(valueWidth)
        let perIntermediate = (gatedMLP ? 2.0 : 1.0) * fp8
        if isMoELayer(layer), let moe {
            let k = Double(moe.expertsPerToken)
            split += fp8 * tokens * k * h
                + perIntermediate * tokens * (k * Double(moe.expertFFNSize) + Double(moe.sharedFFNSize))
                + e * tokens * Double(moe.experts)
        } else {
            split += perIntermediate * tokens * Double(ffnSize)
        }
        return (replicated, split)
    }

    /// Parameters of one layer's MLA up-projections (latent to per-head queries, and to per-head keys and values),
    /// which DeepSeek-V3 recomputes in the backward pass (§3.2.3); 0 without latent attention.
    package func upProjectionParameters() -> Double {
        guard let mla = latentAttention else { return 0 }
        let a = Double(attentionHeads)
        let query = Double(mla.queryRank) * a * Double(mla.nopeHeadDim + mla.ropeHeadDim)
        return query + Double(mla.keyValueRank) * a * Double(mla.nopeHeadDim + mla.valueHeadDim)
    }
}
