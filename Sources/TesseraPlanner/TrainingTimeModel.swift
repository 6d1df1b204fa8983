import TesseraParallel
import TesseraPipeline

/// One micro-batch through one model chunk or pipeline rank, by cause, and its passes for the pipeline timing.
struct PieceTime {
    var compute = 0.0, recompute = 0.0, tensorParallel = 0.0, contextParallel = 0.0
    var expertParallel = 0.0, pipelineTransfers = 0.0
    /// The part of the above the multi-token-prediction modules add (``TimeBreakdown/multiTokenPrediction``).
    var multiTokenPrediction = 0.0
    /// The forward, input-gradient and weight-gradient passes with the communication that sits in them.
    var passes = StageCosts(forward: 0, backwardInput: 0, backwardWeight: 0)
    var total: Double { compute + recompute + tensorParallel + contextParallel + expertParallel + pipelineTransfers }
}

/// The costs one layout's pieces share: collective times and rates, computed once per layout.
struct LayoutRates {
    var layout: TrainingLayout
    var tokens: Double
    /// One tensor-parallel all-reduce of a micro-batch's activations (or, with sequence parallelism, the
    /// all-gather and reduce-scatter pair that replaces it: the same bytes).
    var tensorAllReduce = 0.0
    /// Whether the tp collectives hide behind the products: the layout overlaps them and its tp group sits in one
    /// node (Transformer Engine's userbuffers and PyTorch's symmetric memory both map peer memory over NVLink).
    var tensorParallelOverlapped = false
    /// The same pair over the expert layers' tp group (``TrainingLayout/etp``; equal to the above when etp = tp).
    var expertTensorAllReduce = 0.0
    /// The vocabulary-parallel embedding's reduction of the looked-up rows: an all-reduce, or a reduce-scatter
    /// with sequence parallelism.
    var embeddingReduction = 0.0
    /// The cross entropy's three all-reduces of one FP32 number per token (maximum, target logit, sum of
    /// exponentials; Megatron-LM `mpu/cross_entropy.py`).
    var crossEntropyReductions = 0.0
    var contextExchange = 0.0
    /// One expert all-to-all (the mean of a dispatch and a combine) of a micro-batch over the ep group.
    var expertExchange = 0.0
    /// How much longer computation takes while communication kernels hold some of the SMs
    /// (``TrainingCostModel/expertOverlapSlowdown(_:)``); 1 otherwise.
    var computeSlowdown = 1.0
    /// One pipeline exchange: a message of bsh/t per tp rank over the link between stages (Narayanan et al. 2021
    /// §4.1 scatter/gather), and the all-gather over tp that rebuilds the tensor on the receiver when the
    /// activation is not already sequence-parallel.
    var pipelineExchange = 0.0
    /// How much longer a layer's and the LM head's matrix products take than their FLOPs at the matrix rate, per
    /// pass: the tail of their last wave of tiles (``TrainingCostModel/matmulStretch(tokens:tp:)``).
    var layerMatmuls = MatmulStretch()
    var headMatmuls = MatmulStretch()
}

extension TrainingCostModel {
    // MARK: Time

    /// Memory and step time of `layout`; the pipeline's step comes from `bubble` with each model chunk's costs.
    public func estimate(_ layout: TrainingLayout, bubble: some PipelineBubbleModel) -> TrainingEstimate {
        let (time, fraction, m) = time(layout, bubble: bubble)
        let step = time.total
        let flops = stepFLOPs(layout.recompute)
        let devices = Double(layout.deviceCount)
        return TrainingEstimate(
            layout: layout, memory: memory(layout), time: time, usableMemory: usableMemory, microBatches: m,
            bubbleFraction: fraction, tflopsPerDevice: flops.hardware / (devices * step) / 1e12,
            mfu: flops.model / (devices * step * job.accelerator.peakFLOPS(job.computeFormat)),
            tokensPerSecond: Double(job.globalBatchSize * job.sequenceLength) / step)
    }

    /// Step time of `layout` by cause, its bubble fraction and its micro-batch count. Every micro-batch costs the
    /// slowest pipeline rank its work (the first rank carries the embedding, the last the LM head and loss); the
    /// bubble is the step the pipeline model reports beyond that. Without a bubble model: no bubble, a lower bound.
    func time(_ layout: TrainingLayout, bubble: (any PipelineBubbleModel)?)
        -> (time: TimeBreakdown, bubbleFraction: Double, microBatches: Int)
    {
        let m = job.globalBatchSize / (layout.dp * layout.microBatchSize)
        let rates = layoutRates(layout)
        let shape = PipelineShape(stages: layout.pp, virtualStages: layout.virtualStages)
        var slowest = PieceTime()
        for time in layout.dualPipe ? dualPipeRanks(shape, rates) : rankPieces(shape).map({ pieceTime($0, rates) }) {
            if time.total > slowest.total { slowest = time }
        }
        var time = TimeBreakdown()
        let mb = Double(m)
        time.compute = mb * slowest.compute
        time.recompute = mb * slowest.recompute
        time.tensorParallel = mb * slowest.tensorParallel
        time.contextParallel = mb * slowest.contextParallel
        time.expertParallel = mb * slowest.expertParallel
        time.pipelineTransfers = mb * slowest.pipelineTransfers
        time.multiTokenPrediction = mb * slowest.multiTokenPrediction
        if layout.dualPipe && bubble != nil {
            time.pipelineBubble = dualPipeBubble(stages: layout.pp, slowest.passes)
        } else if let bubble, let schedule = layout.schedule, layout.pp > 1 {
            let step = bubble.stepTime(
                schedule: schedule, stages: layout.pp, microBatches: m, virtualStages: layout.virtualStages,
                chunks: chunkPieces(shape).map { pieceTime($0, rates).passes })
            time.pipelineBubble = max(0, step - mb * slowest.total)
        }
        let busy = time.total
        let reduction = (1 - PlannerConstants.dataParallelOverlap) * dataParallelTime(layout, microBatches: m)
        let window = dataParallelWindow(layout, slowest: slowest.passes, microBatches: mb)
        time.dataParallel = max(0, reduction - window) + computeLostToCollectives(running: min(reduction, window))
        time.optimizer = optimizerTime(layout)
        return (time, busy > 0 ? time.pipelineBubble / busy : 0, m)
    }

    /// The compute the data-parallel collectives hide behind (``CommunicationOverlap/dataParallel``). PyTorch DDP
    /// and Megatron-Core's `--overlap-grad-reduce` reduce bucket by bucket during the last micro-batch's backward
    /// pass (recomputation included); the distributed optimizer's parameter all-gather (ZeRO-1) also runs during the
    /// first forward pass; FSDP's per-micro-batch gathers and reduce-scatters (ZeRO-2/3) hide behind every
    /// micro-batch. Only what outlasts the window is exposed.
    func dataParallelWindow(_ layout: TrainingLayout, slowest passes: StageCosts, microBatches mb: Double) -> Double {
        let backward = passes.backwardInput + passes.backwardWeight
        guard layout.overlap.dataParallel else { return layout.torchDDP ? backward : 0 }
        switch layout.zeroStage {
        case 0: return backward
        case 1: return backward + passes.forward
        default: return mb * (backward + passes.forward)
        }
    }

    func layoutRates(_ layout: TrainingLayout) -> LayoutRates {
        let model = job.model
        let accelerator = job.accelerator
        let s = Double(job.sequenceLength)
        let t = Double(layout.tp)
        let h = Double(model.hiddenSize)
        let e = PlannerConstants.activationBytes
        var rates = LayoutRates(layout: layout, tokens: s * Double(layout.microBatchSize) / Double(layout.cp))
        let tokens = rates.tokens
        (rates.layerMatmuls, rates.headMatmuls) = matmulStretch(tokens: tokens, tp: layout.tp)
        if layout.tp > 1 {
            // Two all-reduces (or all-gather + reduce-scatter with sequence parallelism) per layer forward, two
            // backward, two more to recompute (Narayanan et al. 2021 §3.2; Korthikanti et al. 2022 §4.2.2).
            let group = accelerator.group(size: layout.tp, stride: 1)
            rates.tensorAllReduce = CollectiveCost.allReduce(bytes: e * tokens * h, group: group)
            rates.tensorParallelOverlapped = layout.overlap.tensorParallel && !group.spansNodes
            rates.expertTensorAllReduce = CollectiveCost.allReduce(
                bytes: e * tokens * h, group: accelerator.group(size: layout.etp, stride: 1))
            rates.embeddingReduction = layout.sequenceParallel
                ? CollectiveCost.allGather(bytes: e * tokens * h, group: group) : rates.tensorAllReduce
            rates.crossEntropyReductions = 3 * CollectiveCost.allReduce(bytes: 4 * tokens, group: group)
        }
        if layout.cp > 1 {
            // Ring attention: gather every rank's keys and values forward; again plus a reduce-scatter of their
            // gradients backward; overlapped with the attention computation of the same layer.
            let group = accelerator.group(size: layout.cp, stride: layout.tp)
            rates.contextExchange = CollectiveCost.allGather(
                bytes: contextKeyValueBytes(layout), group: group)
        }
        if layout.ep > 1 {
            rates.expertExchange = expertAllToAll(layout, tokens: tokens)
            rates.computeSlowdown = expertOverlapSlowdown(layout)
        }
        if layout.pp > 1 {
            let link = accelerator.link(groupSize: layout.pp, stride: layout.tp * layout.cp * layout.dp)
            rates.pipelineExchange = CollectiveCost.pointToPoint(bytes: e * tokens * h / t, link: link)
            if layout.tp > 1 && !layout.sequenceParallel {
                rates.pipelineExchange += CollectiveCost.allGather(
                    bytes: e * tokens * h, group: accelerator.group(size: layout.tp, stride: 1))
            }
        }
        return rates
    }

    /// Keys and values of one layer and one micro-batch over the whole sequence on one tp rank: what context
    /// parallelism gathers (its KV heads, at least one per rank; latent attention rebuilds per-head keys and values).
    func contextKeyValueBytes(_ layout: TrainingLayout) -> Double {
        let model = job.model
        let width = model.latentAttention == nil
            ? Double(max(model.keyValueHeads / layout.tp, 1) * (model.headDim + model.valueHeadDim))
            : Double(model.queryWidth + model.valueWidth) / Double(layout.tp)
        return PlannerConstants.activationBytes * Double(job.sequenceLength) * Double(layout.microBatchSize) * width
    }

    /// One micro-batch through `piece` (a model chunk or a whole rank) under `rates`' layout.
    func pieceTime(_ piece: PipelinePiece, _ rates: LayoutRates) -> PieceTime {
        let model = job.model
        let layout = rates.layout
        let t = Double(layout.tp)
        let h = Double(model.hiddenSize)
        let tokens = rates.tokens
        var layers = piece.layers
        layers += piece.prediction
        // The head's pass and loss run once for the model and once per prediction module (DeepSeek-V3 §2.2), each
        // module with its own embedding lookup.
        let headPasses = (piece.head ? 1 : 0) + piece.prediction.count
        let lookups = (piece.embedding ? 1 : 0) + piece.prediction.count

        // Forward FLOPs on this device: matrices and logits; the attention core (scores, weighted values) apart.
        let matrices = layers.matrixFLOPs(tokens: tokens, layout)
        let logits = headPasses * 2 * tokens * Double(model.vocabularySize) * h / t
        let core = attentionCore(layout, tokens: tokens, layers: layers.count)
        // Without sequence parallelism every tp rank repeats the norms, dropouts and residual additions.
        let elementwise = PlannerConstants.elementwiseTrafficPerActivationByte * tokens
            * (layers.replicated / (layout.sequenceParallel ? t : 1) + layers.split / t) / memoryRate
        // The loss reads and writes the FP32 logits several times (``PlannerConstants/crossEntropyTrafficPerLogit``).
        let logitElements = headPasses * tokens * Double(model.vocabularySize) / t
        let lossForward = PlannerConstants.crossEntropyTrafficPerLogit.forward * logitElements / memoryRate
        let lossBackward = PlannerConstants.crossEntropyTrafficPerLogit.backward * logitElements / memoryRate
        let layer = rates.layerMatmuls, head = rates.headMatmuls
        let slow = rates.computeSlowdown
        let forwardProducts = slow * (matrices * layer.forward / matmulRate + logits * head.forward / wideMatmulRate)
        let forward = forwardProducts + slow * (core.forward + elementwise + lossForward)
        let backwardInput = slow * (matrices * layer.backwardInput / matmulRate
            + logits * head.backwardInput / wideMatmulRate + core.backward + elementwise + lossBackward)
        let backwardWeight = slow * (matrices * layer.backwardWeight / matmulRate
            + logits * head.backwardWeight / wideMatmulRate + elementwise)

        var time = PieceTime()
        time.compute = forward + backwardInput + backwardWeight
        switch layout.recompute {
        case .none: break
        case .selective: time.recompute = slow * core.forward
        case .full: time.recompute = slow * (matrices * layer.forward / matmulRate + core.forward + elementwise)
        }
        if layout.lowPrecisionActivations && layout.recompute != .full {
            // DeepSeek-V3 rebuilds the MLA up-projections in the backward pass (§3.2.3; their norms and SwiGLU
            // outputs too, element-wise work not counted here).
            time.recompute += slow * 2 * tokens * layers.count * model.upProjectionParameters() / t / matmulRate
        }
        let extraForward = layout.recompute == .full ? 1.0 : 0.0
        time.tensorParallel = layerTensorParallel(
            rates, forwardProducts: matrices * layer.forward / matmulRate,
            backwardProducts: matrices * (layer.backwardInput + layer.backwardWeight) / matmulRate,
            layers: layers, extraForward: extraForward)
            + lookups * rates.embeddingReduction
            // The head's input: copied to the tp region (all-reduce of its gradient backward; with sequence
            // parallelism all-gathered forward and reduce-scattered backward), then the loss's reductions.
            + headPasses * (rates.tensorAllReduce + rates.crossEntropyReductions)
        time.contextParallel = contextParallelTime(rates, attentionForward: core.forward, layers: layers.count,
                                                   extraForward: extraForward)
        let allToAll = (4 + 2 * extraForward) * layers.moeLayers * rates.expertExchange
        // DualPipe: another micro-batch's chunk computes while these all-to-alls run.
        time.expertParallel = layout.overlap.expertParallel
            ? max(0, allToAll - time.compute - time.recompute) : allToAll
        // Megatron-LM 2021 waits for each exchange before computing on (blocking batched send/receive); with
        // overlap a transfer hides behind the forward pass of the next micro-batch.
        let exchange = layout.overlap.pipeline ? max(0, rates.pipelineExchange - forward) : rates.pipelineExchange
        time.pipelineTransfers = Double(piece.exchanges) * exchange

        // Communication stretches the passes it sits in; the pipeline model sees the stretched passes.
        let work = forward + backwardInput + backwardWeight + time.recompute
        let stretch = work > 0 ? time.total / work : 1
        time.passes = StageCosts(
            forward: forward * stretch, backwardInput: (backwardInput + time.recompute) * stretch,
            backwardWeight: backwardWeight * stretch)
        if piece.prediction.count > 0 {
            var main = piece
            main.prediction = LayerSums()
            time.multiTokenPrediction = time.total - pieceTime(main, rates).total
        }
        return time
    }

    /// The attention core of `layers` layers for one micro-batch (scores, softmax, weighted values), forward and
    /// backward. With FlashAttention the FLOPs of the unmasked tiles at the matrix rate; with materialized scores each batched product
    /// takes the longer of its FLOPs and its 2 bytes per score element, and the softmax and dropout kernels add
    /// their traffic (``PlannerConstants/softmaxTrafficPerScore``).
    func attentionCore(_ layout: TrainingLayout, tokens: Double, layers: Double) -> (forward: Double, backward: Double) {
        let model = job.model
        let heads = Double(model.attentionHeads) / Double(layout.tp)
        let scores = tokens * Double(job.sequenceLength) * heads * layers
        let keyDim = Double(model.queryWidth) / Double(model.attentionHeads)
        let valueDim = Double(model.valueWidth) / Double(model.attentionHeads)
        guard !layout.flashAttention else {
            // A causal mask lets FlashAttention skip the tiles above the diagonal, half of them (Dao 2023,
            // "FlashAttention-2", §3.1.1); the FLOP count of the step keeps the full square, as Narayanan et al.
            // and the MFU of published runs count it.
            let flops = PlannerConstants.causalTileFraction * 2 * scores * (keyDim + valueDim) / wideMatmulRate
            return (flops, PlannerConstants.flashAttentionBackwardFactor * flops)
        }
        let e = PlannerConstants.activationBytes
        func product(_ depth: Double) -> Double { max(2 * depth * scores / wideMatmulRate, e * scores / memoryRate) }
        let dropout = model.dropout ? 1.0 : 0.0
        let forward = product(keyDim) + product(valueDim) + (PlannerConstants.softmaxTrafficPerScore.forward
            + dropout * PlannerConstants.dropoutTrafficPerScore.forward) * scores / memoryRate
        let backward = 2 * product(keyDim) + 2 * product(valueDim) + (PlannerConstants.softmaxTrafficPerScore.backward
            + dropout * PlannerConstants.dropoutTrafficPerScore.backward) * scores / memoryRate
        return (forward, backward)
    }

    /// Gradient reduction and parameter gathering over data (and context) parallelism per step, and the summing of
    /// a tied embedding's gradients between the first and the last stage.
    func dataParallelTime(_ layout: TrainingLayout, microBatches m: Int) -> Double {
        let shards = layout.dp * layout.cp
        let t = Double(layout.tp)
        let range = stateSlots(layout.pp)
        let parts = denseParts(range)
        var split = parts.split + job.model.embeddingParameters
        if layout.pp == 1 { split += job.model.outputParameters }
        let dense = split / t + parts.whole
        let bytes = PlannerConstants.gradientBytesPerParameter
        let reduceBytes = float32GradientReduction ? 4.0 : bytes
        let accelerator = job.accelerator
        func cost(_ parameters: Double, group size: Int, stride: Int) -> Double {
            guard size > 1, parameters > 0 else { return 0 }
            let group = accelerator.group(size: size, stride: stride)
            let gather = CollectiveCost.allGather(bytes: bytes * parameters, group: group)
            // A reduce-scatter moves what an all-gather of the same bytes moves.
            let reduce = CollectiveCost.allGather(bytes: reduceBytes * parameters, group: group)
            switch layout.zeroStage {
            case 0, 1: return reduce + gather  // all-reduce, or reduce-scatter + all-gather
            case 2: return Double(m) * reduce + gather  // gradients reduce-scattered every micro-batch
            default:
                let gathersPerMicroBatch = layout.recompute == .full ? 3.0 : 2.0
                return Double(m) * (gathersPerMicroBatch * gather + reduce)
            }
        }
        var total = cost(dense, group: shards, stride: layout.tp)
            + cost(sum(expertParameters, range) / Double(layout.etp * layout.ep), group: layout.expertDataParallel,
                   stride: layout.expertParallelStride * layout.ep)
        if (job.model.tiedEmbeddings || predictionModules > 0) && layout.pp > 1 && !layout.dualPipe {
            // Megatron-LM's embedding group: the first and last stage's copies all-reduce their gradients (the last
            // stage holds one for a tied head or for the prediction modules' lookups; DualPipe's rank 0 holds both
            // ends, one copy).
            let pair = accelerator.group(size: 2, stride: layout.tp * layout.cp * layout.dp * (layout.pp - 1))
            total += CollectiveCost.allReduce(bytes: bytes * job.model.embeddingParameters / t, group: pair)
        }
        return total
    }

    /// Adam reads gradients and FP32 states and writes states and BF16 weights (28 bytes per parameter it owns).
    func optimizerTime(_ layout: TrainingLayout) -> Double {
        let t = Double(layout.tp)
        let range = stateSlots(layout.pp)
        let parts = denseParts(range)
        let dense = (parts.split + job.model.embeddingParameters) / t + parts.whole
        let expert = sum(expertParameters, range) / Double(layout.etp * layout.ep)
        let shards = layout.zeroStage >= 1 ? Double(layout.dp * layout.cp) : 1
        let expertShards = layout.zeroStage >= 1 ? Double(layout.expertDataParallel) : 1
        return 28 * (dense / shards + expert / expertShards) / memoryRate
    }

    /// FLOPs of one step over all devices: `model` counts forward and backward (3 x forward), `hardware` adds what
    /// recomputation repeats. For GPT with full recomputation this is Narayanan et al.'s
    /// 96·B·s·l·h²(1 + s/6h + V/16lh), without it 72·B·s·l·h²(1 + s/6h + V/12lh). `causal` counts only the
    /// unmasked half of the attention scores (``PlannerConstants/causalTileFraction``), as a causal kernel computes.
    /// Prediction modules count as layers (their blocks and projections) and as passes through the head.
    public func stepFLOPs(_ recompute: Recomputation, causal: Bool = false) -> (model: Double, hardware: Double) {
        let model = job.model
        let s = Double(job.sequenceLength)
        let sequences = Double(job.globalBatchSize)
        let slots = layers + predictionModules
        let matrices = 2 * s * activeMatrixParameters[slots]
        let attention = (causal ? PlannerConstants.causalTileFraction : 1) * 2 * s * s
            * Double(model.queryWidth + model.valueWidth) * Double(slots)
        let logits = Double(1 + predictionModules) * 2 * s * Double(model.vocabularySize) * Double(model.hiddenSize)
        let forward = matrices + attention + logits
        let repeated: Double
        switch recompute {
        case .none: repeated = 0
        case .selective: repeated = attention
        case .full: repeated = matrices + attention
        }
        return (sequences * 3 * forward, sequences * (3 * forward + repeated))
    }
}
