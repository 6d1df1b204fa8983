import Foundation
import TesseraParallel

/// What the serving plan ranks by.
public enum ServingObjective: String, CaseIterable, Codable, Sendable {
    /// Generated tokens per second per GPU (cost efficiency).
    case throughput
    /// Time per generated token for each sequence.
    case latency
}

/// A model to serve: weight format, how many sequences at once, how long they get.
public struct ServingJob: Sendable {
    public var model: ModelArchitecture
    public var accelerator: Accelerator
    public var weightFormat: WeightFormat
    /// Tokens of context each sequence may reach (prompt plus generated).
    public var contextLength: Int
    /// Sequences decoded together (continuous batching keeps this many in flight).
    public var batchSize: Int
    /// Exactly this many GPUs, or nil to consider every count from the fewest that fit up to a node.
    public var devices: Int?
    public var objective: ServingObjective

    public init(
        model: ModelArchitecture, accelerator: Accelerator, weightFormat: WeightFormat = .bf16, contextLength: Int? = nil,
        batchSize: Int = 1, devices: Int? = nil, objective: ServingObjective = .throughput
    ) {
        self.model = model
        self.accelerator = accelerator
        self.weightFormat = weightFormat
        self.contextLength = contextLength ?? model.maxPositions
        self.batchSize = batchSize
        self.devices = devices
        self.objective = objective
    }

    /// KV cache is kept in 16 bits whatever the weight format (vLLM's default `kv_cache_dtype = auto`).
    static let keyValueBytes = 2.0

    /// KV-cache bytes per token over all layers (grouped-query and latent attention aware).
    public var keyValueBytesPerToken: Double {
        Self.keyValueBytes * Double(model.keyValueCacheElementsPerTokenPerLayer) * Double(model.layers)
    }

    /// Bytes of all weights in `weightFormat`, per-block scales included.
    public var weightBytes: Double { model.totalParameters * weightFormat.bitsPerWeight / 8 }

    /// KV-cache bytes for the whole batch at full context.
    public var keyValueCacheBytes: Double { keyValueBytesPerToken * Double(contextLength) * Double(batchSize) }

    func validate() throws {
        guard contextLength > 0 else {
            throw PlannerError.invalidSize(name: "context", value: contextLength, reason: "need at least one token")
        }
        guard batchSize > 0 else {
            throw PlannerError.invalidSize(name: "batch", value: batchSize, reason: "need at least one sequence")
        }
        if let devices, devices <= 0 {
            throw PlannerError.invalidSize(name: "gpus", value: devices, reason: "need at least one GPU")
        }
    }
}

/// A serving layout: tensor parallelism inside each pipeline stage.
public struct ServingLayout: Sendable, Equatable, Hashable, Codable {
    public var tp: Int
    public var pp: Int
    public var deviceCount: Int { tp * pp }

    public init(tp: Int, pp: Int) {
        self.tp = tp
        self.pp = pp
    }
}

/// Memory and speed of one serving layout (per GPU on the fullest stage).
public struct ServingEstimate: Sendable, Equatable {
    public var layout: ServingLayout
    public var weightBytes: Double
    public var keyValueCacheBytes: Double
    public var workspaceBytes: Double
    public var usableMemory: Double
    /// Seconds between two tokens of one sequence.
    public var tokenLatency: Double
    /// Seconds to prefill one full-context prompt.
    public var timeToFirstToken: Double
    /// Generated tokens per second over the whole batch.
    public var tokensPerSecond: Double

    public var memoryPerDevice: Double { weightBytes + keyValueCacheBytes + workspaceBytes }
    public var fits: Bool { memoryPerDevice <= usableMemory }
    public var tokensPerSecondPerDevice: Double { tokensPerSecond / Double(layout.deviceCount) }
}

/// The outcome of a serving search.
public struct ServingPlan: Sendable {
    public var job: ServingJob
    /// All weights, all KV cache (whole batch, full context).
    public var weightBytes: Double
    public var keyValueCacheBytes: Double
    /// The fewest GPUs any layout fits on (nil: none up to ``ServingPlanner/maximumDevices``).
    public var minimumDevices: Int?
    /// Fitting layouts, best first by the job's objective.
    public var ranked: [ServingEstimate]
    /// When nothing fits: what would (more GPUs, another format, a shorter context, a smaller batch), naming the
    /// job's settings by property (`ServingJob.weightFormat`) for a front end to word.
    public var suggestions: [SettingText]
}

/// Memory and decode-speed model for serving, and the search over (tp, pp).
public enum ServingPlanner {
    /// The largest GPU count the search for the minimum tries.
    public static let maximumDevices = 4096

    /// Plans `job`: the fewest GPUs, the ranked layouts, and suggestions when nothing fits.
    /// - Throws: ``PlannerError/invalidSize(name:value:reason:)`` for non-positive sizes.
    public static func run(_ job: ServingJob) throws -> ServingPlan {
        try job.validate()
        let minimum = minimumDevices(job)
        var counts: [Int]
        if let devices = job.devices {
            counts = [devices]
        } else if let minimum {
            counts = Array(minimum...max(minimum, job.accelerator.devicesPerNode))
        } else {
            counts = []
        }
        var ranked = counts.flatMap { layouts(job, devices: $0) }.map { estimate(job, $0) }.filter(\.fits)
        switch job.objective {
        case .throughput:
            ranked.sort { ($0.tokensPerSecondPerDevice, -$0.tokenLatency) > ($1.tokensPerSecondPerDevice, -$1.tokenLatency) }
        case .latency:
            ranked.sort { ($0.tokenLatency, $0.layout.deviceCount) < ($1.tokenLatency, $1.layout.deviceCount) }
        }
        let suggestions = ranked.isEmpty ? suggest(job, minimum: minimum) : []
        return ServingPlan(
            job: job, weightBytes: job.weightBytes, keyValueCacheBytes: job.keyValueCacheBytes,
            minimumDevices: minimum, ranked: ranked, suggestions: suggestions)
    }

    /// Tensor sizes that divide the heads (key/value heads divide or are replicated) and the MLP widths.
    static func tensorSizes(_ model: ModelArchitecture) -> [Int] {
        TrainingSearch.divisors(model.attentionHeads).filter { t in
            (model.keyValueHeads % t == 0 || t % model.keyValueHeads == 0)
                && (model.ffnSize == 0 || model.ffnSize % t == 0)
                && (model.moe.map { $0.expertFFNSize % t == 0 } ?? true)
        }
    }

    /// Every (tp, pp) with tp·pp = `devices`; pp divides the layers or is a power of two (uneven last stages).
    static func layouts(_ job: ServingJob, devices: Int) -> [ServingLayout] {
        let layers = job.model.layers
        return tensorSizes(job.model).compactMap { t in
            guard devices % t == 0 else { return nil }
            let p = devices / t
            guard p <= layers, layers % p == 0 || p & (p - 1) == 0 else { return nil }
            return ServingLayout(tp: t, pp: p)
        }
    }

    /// The fewest GPUs on which some layout fits.
    static func minimumDevices(_ job: ServingJob) -> Int? {
        var n = 1
        while n <= maximumDevices {
            if layouts(job, devices: n).contains(where: { estimate(job, $0).fits }) { return n }
            n += n < 16 ? 1 : (n < 256 ? 8 : 64)
        }
        return nil
    }

    /// Memory and speed of `layout` for `job`.
    public static func estimate(_ job: ServingJob, _ layout: ServingLayout) -> ServingEstimate {
        let model = job.model
        let accelerator = job.accelerator
        let t = Double(layout.tp)
        let stageLayers = (model.layers + layout.pp - 1) / layout.pp
        let layerShare = Double(stageLayers) / Double(model.layers)
        let bytesPerWeight = job.weightFormat.bitsPerWeight / 8
        let h = Double(model.hiddenSize)

        // Memory: the fullest stage holds ⌈L/pp⌉ layers and, on one pipeline rank only, embedding or head.
        let layerWeights = model.totalParameters - model.embeddingParameters - model.outputParameters
            - model.finalNormParameters
        let ends = layout.pp == 1
            ? model.embeddingParameters + model.outputParameters + model.finalNormParameters
            : max(model.embeddingParameters, model.outputParameters + model.finalNormParameters)
        let weights = bytesPerWeight * (layerWeights * layerShare + ends) / t
        let keyValueSplit = model.latentAttention == nil ? Double(min(layout.tp, model.keyValueHeads)) : 1
        let keyValue = job.keyValueBytesPerToken * layerShare * Double(job.contextLength) * Double(job.batchSize)
            / keyValueSplit
        let chunk = Double(min(PlannerConstants.prefillChunkTokens, job.contextLength * job.batchSize))
        let workspace = PlannerConstants.activationBytes * chunk
            * (h + Double(model.queryWidth + 2 * model.keyValueWidth + 2 * max(model.ffnSize, model.moe?.expertFFNSize ?? 0)) / t)
            + 4 * Double(job.batchSize) * Double(model.vocabularySize) / t
        let usable = accelerator.memoryBytes * (1 - PlannerConstants.memoryReserveFraction)

        // Decode: each stage streams its weights (only the experts its tokens visit) and its KV cache once per
        // step, or is compute-bound, whichever is slower; then two tp all-reduces per layer.
        let memoryRate = accelerator.memoryBytesPerSecond * (accelerator.memoryEfficiency ?? PlannerConstants.memoryBandwidthEfficiency)
        let rate = accelerator.peakFLOPS(job.weightFormat.computeFormat)
            * (accelerator.computeEfficiency ?? PlannerConstants.matmulEfficiency)
        let microBatch = Double((job.batchSize + layout.pp - 1) / layout.pp)
        var streamedLayers = layerWeights * layerShare
        var activeLayers = streamedLayers
        if let moe = model.moe {
            let moeLayers = Double((0..<model.layers).filter(model.isMoELayer).count) * layerShare
            let perExpert = model.routedExpertParameters / Double(moe.experts)
            let experts = Double(moe.experts)
            let visited = experts * (1 - Foundation.pow(1 - Double(moe.expertsPerToken) / experts, microBatch))
            streamedLayers -= moeLayers * (experts - visited) * perExpert
            activeLayers -= moeLayers * (experts - Double(moe.expertsPerToken)) * perExpert
        }
        let head = model.outputParameters + (model.tiedEmbeddings ? Double(model.vocabularySize) * h : 0)
        let streamed = bytesPerWeight * (streamedLayers + head) / t + keyValue * microBatch / Double(job.batchSize)
        let attentionFLOPs = 4 * Double(job.contextLength) * Double(model.queryWidth) * Double(stageLayers)
        let flops = microBatch * (2 * (activeLayers + head) + attentionFLOPs) / t
        var stage = max(streamed / memoryRate, flops / rate)
        let tensorGroup = accelerator.group(size: layout.tp, stride: 1)
        stage += 2 * Double(stageLayers) * CollectiveCost.allReduce(bytes: 2 * microBatch * h, group: tensorGroup)
        let pipelineLink = accelerator.link(groupSize: layout.pp, stride: layout.tp)
        let hop = CollectiveCost.pointToPoint(bytes: 2 * microBatch * h / t, link: pipelineLink)
        let latency = Double(layout.pp) * stage + Double(layout.pp - 1) * hop

        // Prefill of one full-context prompt: compute-bound, stages one after another; causal attention computes
        // half the score square (flash-attention kernels skip the masked blocks).
        let context = Double(job.contextLength)
        let prefillFLOPs = context * (2 * (model.activeParameters - model.embeddingParameters)
            + 2 * context * Double(model.queryWidth) * Double(model.layers)) / t
        let prefill = prefillFLOPs / rate + 2 * Double(model.layers)
            * CollectiveCost.allReduce(bytes: 2 * context * h, group: tensorGroup)
            + Double(layout.pp - 1) * CollectiveCost.pointToPoint(bytes: 2 * context * h / t, link: pipelineLink)

        return ServingEstimate(
            layout: layout, weightBytes: weights, keyValueCacheBytes: keyValue, workspaceBytes: workspace,
            usableMemory: usable, tokenLatency: latency, timeToFirstToken: prefill,
            tokensPerSecond: Double(job.batchSize) / latency)
    }

    /// What would fit when nothing does: more GPUs, a smaller weight format, a shorter context, a smaller batch.
    static func suggest(_ job: ServingJob, minimum: Int?) -> [SettingText] {
        var lines: [SettingText] = []
        let devices = job.devices ?? job.accelerator.devicesPerNode
        func fits(_ changed: ServingJob) -> Bool {
            layouts(changed, devices: devices).contains { estimate(changed, $0).fits }
        }
        if let minimum, minimum > devices {
            lines.append("more GPUs: it fits on \(minimum) \(job.accelerator.name)")
        } else if minimum == nil {
            lines.append("more GPUs: it does not fit on \(maximumDevices) or fewer \(job.accelerator.name)")
        }
        for format in WeightFormat.allCases where format.bitsPerWeight < job.weightFormat.bitsPerWeight {
            var changed = job
            changed.weightFormat = format
            if fits(changed) {
                lines.append("quantization: \(setting: "ServingJob.weightFormat", format.rawValue) fits on \(devices) GPU\(devices == 1 ? "" : "s")")
                break
            }
        }
        /// The largest halving of the field at `key` (not below `floor`) at which the job fits.
        func largestFitting(_ key: WritableKeyPath<ServingJob, Int>, floor: Int) -> Int? {
            var changed = job
            changed[keyPath: key] /= 2
            while changed[keyPath: key] >= floor {
                if fits(changed) { return changed[keyPath: key] }
                changed[keyPath: key] /= 2
            }
            return nil
        }
        if let context = largestFitting(\.contextLength, floor: 256) {
            lines.append("shorter context: \(setting: "ServingJob.contextLength", context) fits on \(devices)")
        }
        if let batch = largestFitting(\.batchSize, floor: 1) {
            lines.append("smaller batch: \(setting: "ServingJob.batchSize", batch) fits on \(devices)")
        }
        return lines
    }
}
