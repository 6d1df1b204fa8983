import TesseraPipeline

/// The memory and time models for one training job, with per-layer sums precomputed so that a layout costs a few
/// hundred arithmetic operations.
public struct TrainingCostModel: Sendable {
    public let job: TrainingJob
    private let layers: Int
    // Prefix sums over layers (index i holds the sum of layers 0..<i).
    private let denseParameters: [Double]
    private let expertParameters: [Double]
    private let activeMatrixParameters: [Double]
    private let moeLayers: [Double]
    private let replicatedActivationPerToken: [Double]
    private let splitActivationPerToken: [Double]
    private let matmulRate: Double
    private let memoryRate: Double

    public init(job: TrainingJob) {
        self.job = job
        let model = job.model
        layers = model.layers
        var dense = [0.0], expert = [0.0], active = [0.0], moe = [0.0], replicated = [0.0], split = [0.0]
        for index in 0..<model.layers {
            let p = model.layerParameters(index)
            dense.append(dense.last! + p.dense)
            expert.append(expert.last! + p.expert)
            active.append(active.last! + model.activeMatrixParameters(index))
            moe.append(moe.last! + (model.isMoELayer(index) ? 1 : 0))
            let bytes = model.linearActivationBytesPerLayer(layer: index, tokens: 1)
            replicated.append(replicated.last! + bytes.replicated)
            split.append(split.last! + bytes.split)
        }
        denseParameters = dense
        expertParameters = expert
        activeMatrixParameters = active
        moeLayers = moe
        replicatedActivationPerToken = replicated
        splitActivationPerToken = split
        let accelerator = job.accelerator
        matmulRate = accelerator.peakFLOPS(job.computeFormat)
            * (accelerator.computeEfficiency ?? PlannerConstants.matmulEfficiency)
        memoryRate = accelerator.memoryBytesPerSecond
            * (accelerator.memoryEfficiency ?? PlannerConstants.memoryBandwidthEfficiency)
    }

    /// Usable bytes per device: capacity minus ``PlannerConstants/memoryReserveFraction``.
    public var usableMemory: Double { job.accelerator.memoryBytes * (1 - PlannerConstants.memoryReserveFraction) }

    /// Layers on the fullest pipeline stage (uneven splits give the first and last stage ⌈L/pp⌉).
    func stageLayers(_ pp: Int) -> Int { (layers + pp - 1) / pp }

    private func sum(_ prefix: [Double], _ range: Range<Int>) -> Double { prefix[range.upperBound] - prefix[range.lowerBound] }

    /// Micro-batches a stage holds activations for: the first stage of 1F1B/ZB-H1 holds min(p, m), GPipe m,
    /// interleaved p(1 + (p-1)/(pv)) (Korthikanti et al. 2022 §4.2.3); the last stage holds 1 (GPipe: m).
    public func microBatchesInFlight(_ layout: TrainingLayout, microBatches m: Int, firstStage: Bool) -> Double {
        let p = Double(layout.pp)
        switch layout.schedule {
        case nil: return 1
        case .gpipe: return Double(m)
        case .oneForwardOneBackward, .zeroBubbleH1: return firstStage ? min(p, Double(m)) : 1
        case .interleaved: return firstStage ? p + (p - 1) / Double(layout.virtualStages) : 1
        }
    }

    // MARK: Memory

    /// Memory per device on the fullest stage (the larger of the first and the last).
    public func memory(_ layout: TrainingLayout) -> MemoryBreakdown {
        let m = job.globalBatchSize / (layout.dp * layout.microBatchSize)
        let first = stageMemory(layout, microBatches: m, firstStage: true)
        guard layout.pp > 1 else { return first }
        let last = stageMemory(layout, microBatches: m, firstStage: false)
        return first.total >= last.total ? first : last
    }

    private func stageMemory(_ layout: TrainingLayout, microBatches m: Int, firstStage: Bool) -> MemoryBreakdown {
        let model = job.model
        let t = Double(layout.tp)
        let range = stageRange(layout.pp, firstStage: firstStage)
        var dense = sum(denseParameters, range)
        if firstStage { dense += model.embeddingParameters }
        if !firstStage || layout.pp == 1 {
            dense += model.finalNormParameters + model.outputParameters
            // A tied embedding is also held by the last stage when the pipeline has more than one.
            if model.tiedEmbeddings && layout.pp > 1 { dense += Double(model.vocabularySize) * Double(model.hiddenSize) }
        }
        let shards = layout.dp * layout.cp
        var states = ModelStateMemory(parameters: dense / t, dataParallel: shards, zeroStage: layout.zeroStage)
        states += ModelStateMemory(
            parameters: sum(expertParameters, range) / (t * Double(layout.ep)), dataParallel: shards / layout.ep,
            zeroStage: layout.zeroStage)
        var weights = states.weights
        if layout.zeroStage == 3 {
            // Gathered copies of the layer being computed and the one prefetched.
            let layer = (sum(denseParameters, range) + sum(expertParameters, range) / Double(layout.ep))
                / Double(range.count) / t
            weights += 2 * PlannerConstants.weightBytesPerParameter * layer
        }
        let activations = stageActivations(layout, range: range, microBatches: m, firstStage: firstStage)
        return MemoryBreakdown(
            weights: weights, gradients: states.gradients, optimizer: states.optimizer, activations: activations)
    }

    private func stageRange(_ pp: Int, firstStage: Bool) -> Range<Int> {
        let count = stageLayers(pp)
        return firstStage ? 0..<count : (layers - count)..<layers
    }

    private func stageActivations(_ layout: TrainingLayout, range: Range<Int>, microBatches m: Int, firstStage: Bool)
        -> Double
    {
        let model = job.model
        let s = job.sequenceLength
        let b = layout.microBatchSize
        let t = Double(layout.tp)
        let tokens = Double(s) * Double(b) / Double(layout.cp)
        let e = PlannerConstants.activationBytes
        let h = Double(model.hiddenSize)
        let replicatedSplit = layout.sequenceParallel ? t : 1
        var perMicroBatch: Double
        switch layout.recompute {
        case .full:
            perMicroBatch = e * tokens * h / replicatedSplit * Double(range.count)
        case .selective, .none:
            perMicroBatch = tokens * (sum(replicatedActivationPerToken, range) / replicatedSplit
                + sum(splitActivationPerToken, range) / t)
            if layout.recompute == .none {
                perMicroBatch += model.attentionScoreBytes(sequenceLength: s, microBatch: b, contextParallel: layout.cp)
                    / t * Double(range.count)
            }
        }
        if firstStage && model.dropout { perMicroBatch += tokens * h / replicatedSplit }  // embedding dropout mask
        let inFlight = microBatchesInFlight(layout, microBatches: m, firstStage: firstStage)
        var total = inFlight * perMicroBatch
        if !firstStage || layout.pp == 1 {
            // Final norm input, output-projection input and FP32 logits: 4sbh/t (1 + v/h), Korthikanti §4.3.
            let output = (2 * e * tokens * h + 4 * tokens * Double(model.vocabularySize)) / t
            total += (layout.schedule == .gpipe ? Double(m) : 1) * output
        }
        return total
    }

    // MARK: Time

    /// Memory and step time of `layout`; the pipeline bubble comes from `bubble`.
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

    /// Step time of `layout` by cause, its bubble fraction and its micro-batch count.
    func time(_ layout: TrainingLayout, bubble: some PipelineBubbleModel)
        -> (time: TimeBreakdown, bubbleFraction: Double, microBatches: Int)
    {
        let m = job.globalBatchSize / (layout.dp * layout.microBatchSize)
        let first = microBatchTime(layout, firstStage: true)
        let stage = layout.pp == 1 ? first : max(first, microBatchTime(layout, firstStage: false))
        var time = TimeBreakdown()
        let mb = Double(m)
        time.compute = mb * stage.compute
        time.recompute = mb * stage.recompute
        time.tensorParallel = mb * stage.tensorParallel
        time.contextParallel = mb * stage.contextParallel
        time.expertParallel = mb * stage.expertParallel
        time.pipelineTransfers = mb * stage.pipelineTransfers
        let perMicroBatch = stage.total
        let fraction = layout.schedule.map {
            bubble.bubbleFraction(
                schedule: $0, stages: layout.pp, microBatches: m, virtualStages: layout.virtualStages, costs: stage.costs)
        } ?? 0
        time.pipelineBubble = mb * perMicroBatch * fraction / (1 - fraction)
        time.dataParallel = (1 - PlannerConstants.dataParallelOverlap) * dataParallelTime(layout, microBatches: m)
        time.optimizer = optimizerTime(layout)
        return (time, fraction, m)
    }

    /// One micro-batch on one stage, by cause, and its forward/backward split for the bubble model.
    struct StageTime: Comparable {
        var compute = 0.0, recompute = 0.0, tensorParallel = 0.0, contextParallel = 0.0
        var expertParallel = 0.0, pipelineTransfers = 0.0
        var costs = StageCosts(forward: 1, backwardInput: 1, backwardWeight: 1)
        var total: Double { compute + recompute + tensorParallel + contextParallel + expertParallel + pipelineTransfers }
        static func < (a: StageTime, b: StageTime) -> Bool { a.total < b.total }
    }

    func microBatchTime(_ layout: TrainingLayout, firstStage: Bool) -> StageTime {
        let model = job.model
        let accelerator = job.accelerator
        let range = stageRange(layout.pp, firstStage: firstStage)
        let count = Double(range.count)
        let s = Double(job.sequenceLength)
        let t = Double(layout.tp)
        let tokens = s * Double(layout.microBatchSize) / Double(layout.cp)
        let h = Double(model.hiddenSize)
        let e = PlannerConstants.activationBytes
        let withLogits = !firstStage || layout.pp == 1

        // Forward FLOPs on this device: matrices, attention scores and weighted values, logits.
        let matrices = 2 * tokens * sum(activeMatrixParameters, range) / t
        let attention = 2 * tokens * s * Double(model.queryWidth + model.valueWidth) * count / t
        let logits = withLogits ? 2 * tokens * Double(model.vocabularySize) * h / t : 0
        // Without sequence parallelism every tp rank repeats the norms, dropouts and residual additions.
        let elementwise = PlannerConstants.elementwiseTrafficPerActivationByte * tokens
            * (sum(replicatedActivationPerToken, range) / (layout.sequenceParallel ? t : 1)
                + sum(splitActivationPerToken, range) / t) / memoryRate
        let forward = (matrices + attention + logits) / matmulRate + elementwise
        let backwardInput = (matrices + 2 * attention + logits) / matmulRate + elementwise
        let backwardWeight = (matrices + logits) / matmulRate + elementwise

        var time = StageTime()
        time.compute = forward + backwardInput + backwardWeight
        switch layout.recompute {
        case .none: break
        case .selective: time.recompute = attention / matmulRate
        case .full: time.recompute = (matrices + attention) / matmulRate + elementwise
        }
        let extraForward = layout.recompute == .full ? 1.0 : 0.0

        if layout.tp > 1 {
            // Two all-reduces (or all-gather + reduce-scatter with sequence parallelism) per layer forward, two
            // backward, two more to recompute (Narayanan et al. 2021 §3.2; Korthikanti et al. 2022 §4.2.2).
            let link = accelerator.link(groupSize: layout.tp, stride: 1)
            let one = CollectiveCost.allReduce(bytes: e * tokens * h, groupSize: layout.tp, link: link)
            time.tensorParallel = (4 + 2 * extraForward) * count * one
        }
        if layout.cp > 1 {
            // Ring attention: gather every rank's keys and values forward; again plus a reduce-scatter of their
            // gradients backward; overlapped with the attention computation of the same layer.
            let link = accelerator.link(groupSize: layout.cp, stride: layout.tp)
            let kvWidth = model.latentAttention == nil
                ? Double(max(model.keyValueHeads / layout.tp, 1) * (model.headDim + model.valueHeadDim))
                : Double(model.queryWidth + model.valueWidth) / t
            let gather = CollectiveCost.allGather(
                bytes: e * s * Double(layout.microBatchSize) * kvWidth, groupSize: layout.cp, link: link)
            let attentionForward = attention / count / matmulRate
            let exposedForward = max(0, gather - attentionForward)
            let exposedBackward = max(0, 2 * gather - 2 * attentionForward)
            time.contextParallel = count * ((1 + extraForward) * exposedForward + exposedBackward)
        }
        if layout.ep > 1, let moe = model.moe {
            // Dispatch and combine all-to-alls per MoE layer, forward and backward (each tp rank routes its 1/tp of
            // the tokens under sequence parallelism).
            let link = accelerator.link(groupSize: layout.ep, stride: layout.tp * layout.cp)
            let bytes = e * tokens / t * Double(moe.expertsPerToken) * h
            let one = CollectiveCost.allToAll(bytes: bytes, groupSize: layout.ep, link: link)
            time.expertParallel = (4 + 2 * extraForward) * sum(moeLayers, range) * one
        }
        if layout.pp > 1 {
            // One activation forward and one gradient backward per chunk boundary; the tp ranks each send 1/tp
            // (Narayanan et al. 2021 §4.1 scatter/gather).
            let link = accelerator.link(groupSize: layout.pp, stride: layout.tp * layout.cp * layout.dp)
            let message = CollectiveCost.pointToPoint(bytes: e * tokens * h / t, link: link)
            time.pipelineTransfers = 2 * Double(layout.virtualStages) * message
        }
        // Communication stretches the passes it sits in; the bubble model sees the stretched passes.
        let work = forward + backwardInput + backwardWeight + time.recompute
        let stretch = time.total / work
        time.costs = StageCosts(
            forward: forward * stretch, backwardInput: (backwardInput + time.recompute) * stretch,
            backwardWeight: backwardWeight * stretch)
        return time
    }

    /// Gradient reduction and parameter gathering over data (and context) parallelism per step.
    func dataParallelTime(_ layout: TrainingLayout, microBatches m: Int) -> Double {
        let shards = layout.dp * layout.cp
        let expertShards = shards / layout.ep
        let t = Double(layout.tp)
        let range = stageRange(layout.pp, firstStage: true)
        var dense = sum(denseParameters, range) + job.model.embeddingParameters
        if layout.pp == 1 { dense += job.model.outputParameters }
        let bytes = PlannerConstants.gradientBytesPerParameter
        let accelerator = job.accelerator
        func cost(_ parameters: Double, group: Int, stride: Int) -> Double {
            guard group > 1, parameters > 0 else { return 0 }
            let link = accelerator.link(groupSize: group, stride: stride)
            let gather = CollectiveCost.allGather(bytes: bytes * parameters, groupSize: group, link: link)
            switch layout.zeroStage {
            case 0, 1: return 2 * gather  // all-reduce, or reduce-scatter + all-gather
            case 2: return Double(m) * gather + gather  // gradients reduce-scattered every micro-batch
            default:
                let gathersPerMicroBatch = layout.recompute == .full ? 3.0 : 2.0
                return Double(m) * (gathersPerMicroBatch + 1) * gather
            }
        }
        return cost(dense / t, group: shards, stride: layout.tp)
            + cost(sum(expertParameters, range) / (t * Double(layout.ep)), group: expertShards,
                   stride: layout.tp * layout.cp * layout.ep)
    }

    /// Adam reads gradients and FP32 states and writes states and BF16 weights (28 bytes per parameter it owns).
    func optimizerTime(_ layout: TrainingLayout) -> Double {
        let t = Double(layout.tp)
        let range = stageRange(layout.pp, firstStage: true)
        let dense = (sum(denseParameters, range) + job.model.embeddingParameters) / t
        let expert = sum(expertParameters, range) / (t * Double(layout.ep))
        let shards = layout.zeroStage >= 1 ? Double(layout.dp * layout.cp) : 1
        let expertShards = layout.zeroStage >= 1 ? shards / Double(layout.ep) : 1
        return 28 * (dense / shards + expert / expertShards) / memoryRate
    }

    /// FLOPs of one step over all devices: `model` counts forward and backward (3 x forward), `hardware` adds what
    /// recomputation repeats. For GPT with full recomputation this is Narayanan et al.'s
    /// 96·B·s·l·h²(1 + s/6h + V/16lh), without it 72·B·s·l·h²(1 + s/6h + V/12lh).
    public func stepFLOPs(_ recompute: Recompute) -> (model: Double, hardware: Double) {
        let model = job.model
        let s = Double(job.sequenceLength)
        let sequences = Double(job.globalBatchSize)
        let matrices = 2 * s * activeMatrixParameters[layers]
        let attention = 2 * s * s * Double(model.queryWidth + model.valueWidth) * Double(layers)
        let logits = 2 * s * Double(model.vocabularySize) * Double(model.hiddenSize)
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
