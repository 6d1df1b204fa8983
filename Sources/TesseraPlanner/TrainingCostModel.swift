import TesseraPipeline

/// The memory and time models for one training job, with per-layer sums precomputed so that a layout costs a few
/// hundred arithmetic operations. Memory is here; time in `TrainingTimeModel.swift`.
public struct TrainingCostModel: Sendable {
    public let job: TrainingJob
    let layers: Int
    /// Multi-token-prediction modules (``ModelArchitecture/predictionModules``): slots `layers..<layers + D` of the
    /// prefix sums, held by the rank with the output head, whose pass they repeat.
    let predictionModules: Int
    // Prefix sums over layers, then the prediction modules (index i holds the sum of slots 0..<i).
    let denseParameters: [Double]
    /// The part of ``denseParameters`` tensor parallelism does not split
    /// (``ModelArchitecture/unsplitMatrixParameters(_:)``).
    let unsplitParameters: [Double]
    let expertParameters: [Double]
    let activeMatrixParameters: [Double]
    let moeLayers: [Double]
    let replicatedActivationPerToken: [Double]
    let splitActivationPerToken: [Double]
    /// The same two parts under DeepSeek-V3's recipe (``TrainingLayout/lowPrecisionActivations``).
    let compactReplicatedPerToken: [Double]
    let compactSplitPerToken: [Double]
    let matmulRate: Double
    /// The rate of the products that stay in 16 bits when the layers' products run in FP8 or FP4: the attention
    /// core and the LM head ("the embedding module, the output head, MoE gating modules, normalization operators,
    /// and attention operators" keep BF16 or FP32 in DeepSeek-V3's FP8 training, DeepSeek-AI 2024 §3.3.1, as in
    /// Transformer Engine's FP8 recipe, which covers its linear layers). Equal to ``matmulRate`` otherwise.
    let wideMatmulRate: Double
    let memoryRate: Double
    /// The pipeline split counts the embedding and the head as a layer each
    /// (``TrainingSearchSpace/embeddingAndHeadAsLayers``).
    let embeddingAndHeadAsLayers: Bool
    /// Gradients are reduce-scattered over data parallelism in FP32 (``TrainingSearchSpace/float32GradientReduction``).
    var float32GradientReduction = false
    /// Bytes per parameter of the gradients and the optimizer states (``TrainingSearchSpace/deepSeekStatePrecision``).
    var gradientBytes = PlannerConstants.gradientBytesPerParameter
    var optimizerBytes = PlannerConstants.optimizerBytesPerParameter
    /// The distinct pipeline ranks of each pipeline shape the search generates (the rest are computed on demand).
    let pipelineRanks: [PipelineShape: [PipelinePiece]]

    public init(job: TrainingJob, embeddingAndHeadAsLayers: Bool = false) {
        self.job = job
        self.embeddingAndHeadAsLayers = embeddingAndHeadAsLayers
        let model = job.model
        layers = model.layers
        predictionModules = model.predictionModules
        var dense = [0.0], unsplit = [0.0], expert = [0.0], active = [0.0], moe = [0.0]
        var replicated = [0.0], split = [0.0]
        var compactReplicated = [0.0], compactSplit = [0.0]
        for index in 0..<(model.layers + model.predictionModules) {
            let module = index - model.layers
            let p = module < 0 ? model.layerParameters(index) : model.predictionModuleParameters(module)
            dense.append(dense.last! + p.dense)
            unsplit.append(unsplit.last! + model.unsplitMatrixParameters(index))
            expert.append(expert.last! + p.expert)
            active.append(active.last! + (module < 0
                ? model.activeMatrixParameters(index) : model.predictionModuleActiveMatrices(module)))
            moe.append(moe.last! + (model.isMoELayer(index) ? 1 : 0))
            let bytes = model.linearActivationBytesPerLayer(layer: index, tokens: 1)
            replicated.append(replicated.last! + bytes.replicated)
            split.append(split.last! + bytes.split)
            let compact = model.compactActivationBytesPerLayer(layer: index, tokens: 1)
            compactReplicated.append(compactReplicated.last! + compact.replicated)
            compactSplit.append(compactSplit.last! + compact.split)
        }
        denseParameters = dense
        unsplitParameters = unsplit
        expertParameters = expert
        activeMatrixParameters = active
        moeLayers = moe
        replicatedActivationPerToken = replicated
        splitActivationPerToken = split
        compactReplicatedPerToken = compactReplicated
        compactSplitPerToken = compactSplit
        let accelerator = job.accelerator
        matmulRate = accelerator.peakFLOPS(job.computeFormat)
            * (accelerator.computeEfficiency ?? PlannerConstants.matmulEfficiency)
        let efficiency = accelerator.computeEfficiency ?? PlannerConstants.matmulEfficiency
        wideMatmulRate = [.fp8, .fp4].contains(job.computeFormat) ? accelerator.peakFLOPS(.bf16) * efficiency : matmulRate
        memoryRate = accelerator.memoryBytesPerSecond
            * (accelerator.memoryEfficiency ?? PlannerConstants.memoryBandwidthEfficiency)
        pipelineRanks = Self.distinctRanks(
            layers: model.layers, predictionModules: model.predictionModules,
            embeddingAndHeadAsLayers: embeddingAndHeadAsLayers,
            sums: Self.layerSums(
                activeMatrices: active, unsplit: unsplit, moe: moe, replicated: replicated, split: split))
    }

    /// The cost model of `job` under the software choices of `space` that are not per layout: the pipeline split
    /// (``TrainingSearchSpace/embeddingAndHeadAsLayers``), the gradients' and optimizer states' precision.
    public init(job: TrainingJob, space: TrainingSearchSpace) {
        self.init(job: job, embeddingAndHeadAsLayers: space.embeddingAndHeadAsLayers)
        float32GradientReduction = space.float32GradientReduction || space.float32GradientBuffers
        if space.float32GradientBuffers { gradientBytes = 4 }
        if space.deepSeekStatePrecision { (gradientBytes, optimizerBytes) = (4, 8) }
    }

    /// Usable bytes per device: capacity minus ``PlannerConstants/memoryReserveFraction``.
    public var usableMemory: Double { job.accelerator.memoryBytes * (1 - PlannerConstants.memoryReserveFraction) }

    func sum(_ prefix: [Double], _ range: Range<Int>) -> Double { prefix[range.upperBound] - prefix[range.lowerBound] }

    /// Dense parameters of `slots`: those tensor parallelism splits (each tp rank holds 1/tp of them) and those it
    /// keeps whole on every rank (``unsplitParameters``).
    func denseParts(_ slots: Range<Int>) -> (split: Double, whole: Double) {
        let whole = sum(unsplitParameters, slots)
        return (sum(denseParameters, slots) - whole, whole)
    }

    /// The slots of the prefix sums `stage` holds: its layers, and the prediction modules with the head (a head's
    /// stage ends at the last layer, so the two ranges join).
    func heldSlots(_ stage: HeldStage) -> Range<Int> {
        stage.head ? stage.layers.lowerBound..<(layers + predictionModules) : stage.layers
    }

    /// The slots whose gradients and optimizer states the data-parallel and optimizer terms count: the first stage
    /// (``stageRange(_:firstStage:)``), or the whole model with its prediction modules without a pipeline.
    func stateSlots(_ pp: Int) -> Range<Int> {
        pp > 1 ? stageRange(pp, firstStage: true) : 0..<(layers + predictionModules)
    }

    /// Micro-batches a stage holds activations for, in units of the stage's layers: the first stage of 1F1B/ZB-H1
    /// holds min(p, m), GPipe m; the last stage holds 1 (GPipe: m). Interleaved, the first stage runs p(v+1) − 1
    /// chunk forwards before its first backward (Megatron-LM's warm-up of 2(p−1) + (v−1)p, plus one): p micro-batches
    /// in every chunk and p − 1 more in its first chunk, so it holds p + (p − 1)·f with f its first chunk's share of
    /// its layers; for an even split f = 1/v, Korthikanti et al. 2022's p(1 + (p−1)/(pv)) (§4.2.3). DualPipe's
    /// ranks hold two stages each (``dualPipeMemory(_:microBatches:)``).
    public func microBatchesInFlight(_ layout: TrainingLayout, microBatches m: Int, firstStage: Bool) -> Double {
        let p = Double(layout.pp)
        switch layout.schedule {
        case nil: return 1
        case .gpipe: return Double(m)
        case .oneForwardOneBackward, .zeroBubbleH1: return firstStage ? min(p, Double(m)) : 1
        case .interleaved:
            guard firstStage else { return 1 }
            let stageLayers = Double(stageRange(layout.pp, firstStage: true).count)
            let firstChunk = Double(firstChunkLayers(chunks: layout.pp * layout.virtualStages))
            return p + (p - 1) * (stageLayers > 0 ? firstChunk / stageLayers : 1 / Double(layout.virtualStages))
        }
    }

    // MARK: Memory

    /// Memory per device on the fullest stage (the larger of the first and the last), at its peak: during the
    /// forward and backward passes, or during the optimizer step when that holds more (``TrainingLayout/float32GradientCopy``).
    /// Under DualPipe, the fullest rank of ``dualPipeMemory(_:microBatches:)``.
    public func memory(_ layout: TrainingLayout) -> MemoryBreakdown {
        let m = job.globalBatchSize / (layout.dp * layout.microBatchSize)
        if layout.dualPipe && layout.pp > 1 { return dualPipeMemory(layout, microBatches: m) }
        let first = rankMemory(layout, holding: [HeldStage(
            layers: stageRange(layout.pp, firstStage: true), embedding: true, head: layout.pp == 1,
            inFlight: microBatchesInFlight(layout, microBatches: m, firstStage: true))], microBatches: m)
        guard layout.pp > 1 else { return first }
        let last = rankMemory(layout, holding: [HeldStage(
            layers: stageRange(layout.pp, firstStage: false), embedding: false, head: true,
            inFlight: microBatchesInFlight(layout, microBatches: m, firstStage: false))], microBatches: m)
        return first.total >= last.total ? first : last
    }

    /// Memory of a rank holding `stages` (one, or DualPipe's two): their weights, gradients and optimizer states
    /// together, and each stage's activations for its micro-batches in flight.
    package func rankMemory(_ layout: TrainingLayout, holding stages: [HeldStage], microBatches m: Int) -> MemoryBreakdown {
        let model = job.model
        let t = Double(layout.tp)
        // Dense parameters tp splits (the embedding and the head among them) and those it keeps whole (``denseParts``).
        var dense = 0.0, whole = 0.0, expert = 0.0, layerCount = 0
        for stage in stages {
            let slots = heldSlots(stage)
            let parts = denseParts(slots)
            dense += parts.split
            whole += parts.whole
            expert += sum(expertParameters, slots)
            layerCount += slots.count
            if stage.embedding { dense += model.embeddingParameters }
            if stage.head {
                dense += model.finalNormParameters + model.outputParameters
                // A tied embedding, or the embedding the prediction modules look up, is also held by the last stage
                // when the pipeline has more than one and the rank does not hold the first (DualPipe's rank 0 shares
                // one copy, DeepSeek-V3 report §2.2).
                if (model.tiedEmbeddings || predictionModules > 0) && layout.pp > 1 && !stages.contains(where: \.embedding) {
                    dense += Double(model.vocabularySize) * Double(model.hiddenSize)
                }
            }
        }
        let shards = layout.dp * layout.cp
        var states = ModelStateMemory(
            parameters: dense / t + whole, dataParallel: shards, zeroStage: layout.zeroStage,
            gradientBytes: gradientBytes, optimizerBytes: optimizerBytes)
        states += ModelStateMemory(
            parameters: expert / Double(layout.etp * layout.ep), dataParallel: layout.expertDataParallel,
            zeroStage: layout.zeroStage, gradientBytes: gradientBytes, optimizerBytes: optimizerBytes)
        var weights = states.weights
        if layout.zeroStage == 3 && layerCount > 0 {
            // Gathered copies of the layer being computed and the one prefetched.
            let parts = stages.map { denseParts(heldSlots($0)) }
            let stageLayers = parts.reduce(0.0) { $0 + $1.split } / t + parts.reduce(0.0) { $0 + $1.whole }
                + expert / Double(layout.etp * layout.ep)
            weights += 2 * PlannerConstants.weightBytesPerParameter * stageLayers / Double(layerCount)
        }
        let activations = rankActivations(layout, holding: stages, microBatches: m)
        // PyTorch DDP's flat gradient buckets: a second copy of the 16-bit gradients (``TrainingLayout/torchDDP``).
        let buckets = layout.torchDDP ? states.gradients : 0
        let training = MemoryBreakdown(
            weights: weights, gradients: states.gradients + buckets, optimizer: states.optimizer,
            activations: activations)
        guard layout.float32GradientCopy else { return training }
        // The optimizer step, after the last backward has freed the activations, adds the FP32 gradient copy
        // (sharded like the optimizer states).
        let copy = states.optimizer * PlannerConstants.float32GradientCopyBytesPerParameter
            / PlannerConstants.optimizerBytesPerParameter
        let step = MemoryBreakdown(
            weights: weights, gradients: states.gradients + buckets + copy, optimizer: states.optimizer, activations: 0)
        return step.total > training.total ? step : training
    }

    /// The slots this model's pipeline split divides (``pipelineSlots(layers:embeddingAndHeadAsLayers:predictionModules:)``).
    var pipelineSlots: Int {
        Self.pipelineSlots(layers: layers, embeddingAndHeadAsLayers: embeddingAndHeadAsLayers,
                           predictionModules: predictionModules)
    }

    /// The layers of the first or the last pipeline stage, as
    /// ``chunkLayerCounts(layers:chunks:embeddingAndHeadAsLayers:predictionModules:)`` splits them over pp stages
    /// (in closed form: the search asks for every candidate).
    package func stageRange(_ pp: Int, firstStage: Bool) -> Range<Int> {
        guard pp > 1 else { return 0..<layers }
        let slots = pipelineSlots
        let base = slots / pp, extra = slots % pp
        // The first stage takes the first extra slot, the last the second; the embedding and the head one each, the
        // prediction modules theirs of the last (a shortfall passes back, to the first stage only when pp = 2).
        let reserved = embeddingAndHeadAsLayers ? 1 : 0
        let first = base + (extra >= 1 ? 1 : 0) - reserved
        let last = max(base + (extra >= 2 ? 1 : 0) - reserved - predictionModules, 0)
        return firstStage ? 0..<max(pp == 2 ? layers - last : first, 0) : (layers - last)..<layers
    }

    /// The transformer layers of model chunk 0 when the layers are split over `chunks` (at least 3) chunks.
    func firstChunkLayers(chunks: Int) -> Int {
        let slots = pipelineSlots
        return max(slots / chunks + (slots % chunks >= 1 ? 1 : 0) - (embeddingAndHeadAsLayers ? 1 : 0), 0)
    }

    /// Activations of a rank holding `stages`: each stage's stored tensors for its micro-batches in flight; with
    /// full recomputation, the one layer being rebuilt (the heaviest stage's average); the gathered keys and values
    /// of all-gather cp; the head's logits for one micro-batch (GPipe: all of them).
    private func rankActivations(_ layout: TrainingLayout, holding stages: [HeldStage], microBatches m: Int) -> Double {
        let model = job.model
        let s = job.sequenceLength
        let b = layout.microBatchSize
        let t = Double(layout.tp)
        let tokens = Double(s) * Double(b) / Double(layout.cp)
        let e = PlannerConstants.activationBytes
        let h = Double(model.hiddenSize)
        let replicatedSplit = layout.sequenceParallel ? t : 1
        let (replicated, split) = layout.lowPrecisionActivations
            ? (compactReplicatedPerToken, compactSplitPerToken) : (replicatedActivationPerToken, splitActivationPerToken)
        let scores = model.attentionScoreBytes(sequenceLength: s, microBatch: b, contextParallel: layout.cp) / t
        var total = 0.0, rebuilt = 0.0
        for stage in stages {
            let range = heldSlots(stage)
            var perMicroBatch: Double
            if layout.recompute == .full {
                perMicroBatch = e * tokens * h / replicatedSplit * Double(range.count)
            } else {
                perMicroBatch = tokens * (sum(replicated, range) / replicatedSplit + sum(split, range) / t)
                // FlashAttention keeps no s × s tensor (``ModelArchitecture/activationBytesPerLayer``).
                if layout.recompute == .none && !layout.flashAttention { perMicroBatch += scores * Double(range.count) }
            }
            if stage.embedding && model.dropout { perMicroBatch += tokens * h / replicatedSplit }  // embedding dropout mask
            total += stage.inFlight * perMicroBatch
            if layout.recompute == .full && !range.isEmpty {
                // Recomputing a layer in the backward pass rebuilds all of its activations for that layer alone: with
                // a checkpoint per layer the footprint is l·A_input + A_intermediate (Narayanan et al. 2021 §3.5; Chen
                // et al. 2016). One layer of the stage (the average), its s × s scores too unless attention is fused.
                rebuilt = max(rebuilt, tokens * (sum(replicatedActivationPerToken, range) / replicatedSplit
                    + sum(splitActivationPerToken, range) / t) / Double(range.count)
                    + (layout.flashAttention ? 0 : scores))
            }
        }
        total += rebuilt
        if layout.cp > 1 && layout.contextParallelKind == .allGather {
            total += contextKeyValueBytes(layout)  // the gathered keys and values of the layer computing
        }
        if stages.contains(where: \.head) {
            // Final norm input, output-projection input and FP32 logits: 4sbh/t (1 + v/h), Korthikanti §4.3; once
            // for the model and once for each prediction module, whose losses are all computed before the backward.
            let output = Double(1 + predictionModules) * (2 * e * tokens * h + 4 * tokens * Double(model.vocabularySize)) / t
            total += (layout.schedule == .gpipe ? Double(m) : 1) * output
        }
        return total
    }
}
