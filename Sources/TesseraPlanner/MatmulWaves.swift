/// How much longer a set of matrix products takes than its FLOPs at the large-product rate, per pass: the tail of
/// each product's last wave of tiles (``PlannerConstants/matmulTile``).
struct MatmulStretch {
    /// The forward product (output: tokens × width).
    var forward = 1.0
    /// The input gradient (output: tokens × depth).
    var backwardInput = 1.0
    /// The weight gradient (output: depth × width, the weight's shape, whatever the micro-batch).
    var backwardWeight = 1.0
}

extension TrainingCostModel {
    /// Time of a product with a `rows` × `columns` output relative to one of the same FLOPs with many waves:
    /// (w + 1/2)/w for w waves of tiles over the accelerator's SMs; 1 where the accelerator has no SM count.
    func waveStretch(rows: Double, columns: Double) -> Double {
        guard let multiprocessors = job.accelerator.streamingMultiprocessors, rows > 0, columns > 0 else { return 1 }
        let tile = PlannerConstants.matmulTile
        let waves = (rows / tile.rows).rounded(.up) * (columns / tile.columns).rounded(.up) / Double(multiprocessors)
        return (waves + 0.5) / waves
    }

    /// The FLOP-weighted stretch of one transformer layer's products and of the LM head's, for micro-batches of
    /// `tokens` tokens on each of `tp` tensor-parallel devices. A layer's products (depth × width per device): the
    /// attention input projections h × (their weights over h)/tp, the output projection (value width)/tp × h, the
    /// MLP's up (and gate) projection h × (ffn, or 2·ffn gated)/tp and its down projection ffn/tp × h; the head
    /// h × vocabulary/tp. MoE layers are charged their dense layer's stretch (the experts' products, a few tokens
    /// each, are not modeled apart).
    func matmulStretch(tokens: Double, tp: Int) -> (layer: MatmulStretch, head: MatmulStretch) {
        let model = job.model
        let h = Double(model.hiddenSize)
        let t = Double(tp)
        let outputWeights = Double(model.valueWidth) * h
        let inputWeights = model.attentionMatrixParameters - outputWeights
        let upWeights = (model.gatedMLP ? 2.0 : 1.0) * h * Double(model.ffnSize)
        let downWeights = h * Double(model.ffnSize)
        let weights = inputWeights + outputWeights + upWeights + downWeights
        let head = stretch(tokens: tokens, depth: h, width: Double(model.vocabularySize) / t)
        guard weights > 0 else { return (MatmulStretch(), head) }
        let input = stretch(tokens: tokens, depth: h, width: inputWeights / h / t)
        let output = stretch(tokens: tokens, depth: Double(model.valueWidth) / t, width: h)
        let up = stretch(tokens: tokens, depth: h, width: upWeights / h / t)
        let down = stretch(tokens: tokens, depth: Double(model.ffnSize) / t, width: h)
        func mean(_ pass: KeyPath<MatmulStretch, Double>) -> Double {
            (inputWeights * input[keyPath: pass] + outputWeights * output[keyPath: pass]
                + upWeights * up[keyPath: pass] + downWeights * down[keyPath: pass]) / weights
        }
        let layer = MatmulStretch(
            forward: mean(\.forward), backwardInput: mean(\.backwardInput), backwardWeight: mean(\.backwardWeight))
        return (layer, head)
    }

    private func stretch(tokens: Double, depth: Double, width: Double) -> MatmulStretch {
        MatmulStretch(forward: waveStretch(rows: tokens, columns: width),
                      backwardInput: waveStretch(rows: tokens, columns: depth),
                      backwardWeight: waveStretch(rows: depth, columns: width))
    }
}
