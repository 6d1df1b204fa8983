/// What to train on what: a model, a device type, how many devices, and the batch.
public struct TrainingJob: Sendable {
    public var model: ModelArchitecture
    public var accelerator: Accelerator
    public var devices: Int
    public var sequenceLength: Int
    /// Sequences per optimizer step, over all data-parallel ranks.
    public var globalBatchSize: Int
    /// Format of the matrix products (mixed-precision training: BF16).
    public var computeFormat: ComputeFormat

    public init(
        model: ModelArchitecture, accelerator: Accelerator, devices: Int, sequenceLength: Int, globalBatchSize: Int,
        computeFormat: ComputeFormat = .bf16
    ) {
        self.model = model
        self.accelerator = accelerator
        self.devices = devices
        self.sequenceLength = sequenceLength
        self.globalBatchSize = globalBatchSize
        self.computeFormat = computeFormat
    }

    /// - Throws: ``PlannerError/invalidSize(name:value:reason:)`` for non-positive sizes.
    func validate() throws {
        guard devices > 0 else { throw PlannerError.invalidSize(name: "gpus", value: devices, reason: "need at least one GPU") }
        guard sequenceLength > 0 else {
            throw PlannerError.invalidSize(name: "seq-len", value: sequenceLength, reason: "need at least one token")
        }
        guard globalBatchSize > 0 else {
            throw PlannerError.invalidSize(
                name: "global-batch-size", value: globalBatchSize, reason: "need at least one sequence per step")
        }
    }
}

/// Weights, gradients and optimizer states per device under mixed-precision Adam (16 bytes per parameter,
/// ``PlannerConstants``) with ZeRO (Rajbhandari et al. 2020, §5): stage 1 shards the optimizer states over the
/// data-parallel ranks, stage 2 also the gradients, stage 3 also the weights.
public struct ModelStateMemory: Sendable, Equatable {
    public var weights: Double
    public var gradients: Double
    public var optimizer: Double
    public var total: Double { weights + gradients + optimizer }

    /// - Parameters:
    ///   - parameters: parameters this device holds before ZeRO (after tensor/pipeline/expert splitting).
    ///   - dataParallel: ranks ZeRO shards over (Nd).
    ///   - gradientBytes, optimizerBytes: per parameter (default: Rajbhandari et al.'s 2 and 12).
    public init(
        parameters: Double, dataParallel: Int, zeroStage: Int,
        gradientBytes: Double = PlannerConstants.gradientBytesPerParameter,
        optimizerBytes: Double = PlannerConstants.optimizerBytesPerParameter
    ) {
        let n = Double(max(dataParallel, 1))
        weights = PlannerConstants.weightBytesPerParameter * parameters / (zeroStage >= 3 ? n : 1)
        gradients = gradientBytes * parameters / (zeroStage >= 2 ? n : 1)
        optimizer = optimizerBytes * parameters / (zeroStage >= 1 ? n : 1)
    }

    public static func += (lhs: inout ModelStateMemory, rhs: ModelStateMemory) {
        lhs.weights += rhs.weights
        lhs.gradients += rhs.gradients
        lhs.optimizer += rhs.optimizer
    }
}

/// Bytes per device on the fullest pipeline stage.
public struct MemoryBreakdown: Sendable, Codable, Equatable {
    public var weights: Double
    public var gradients: Double
    public var optimizer: Double
    public var activations: Double
    /// Everything above (the reserve of ``PlannerConstants/memoryReserveFraction`` comes out of the capacity).
    public var total: Double { weights + gradients + optimizer + activations }

    enum CodingKeys: String, CodingKey {
        case weights = "weights_bytes", gradients = "gradients_bytes", optimizer = "optimizer_bytes"
        case activations = "activations_bytes"
    }
}

/// Seconds of one optimizer step, by cause. `compute` covers matrix products, attention and element-wise kernels
/// of every micro-batch on the slowest stage; the communication terms are the exposed (not overlapped) parts.
public struct TimeBreakdown: Sendable, Codable, Equatable {
    public var compute = 0.0
    public var recompute = 0.0
    public var tensorParallel = 0.0
    public var contextParallel = 0.0
    public var expertParallel = 0.0
    public var pipelineTransfers = 0.0
    public var pipelineBubble = 0.0
    public var dataParallel = 0.0
    public var optimizer = 0.0
    /// What the multi-token-prediction modules add to the terms above on the slowest rank (their blocks, the head's
    /// repeated pass and loss, their communication); part of them, not added again in ``total``.
    public var multiTokenPrediction = 0.0

    public var total: Double {
        compute + recompute + tensorParallel + contextParallel + expertParallel + pipelineTransfers + pipelineBubble
            + dataParallel + optimizer
    }

    enum CodingKeys: String, CodingKey {
        case compute = "compute_seconds", recompute = "recompute_seconds"
        case tensorParallel = "tensor_parallel_seconds", contextParallel = "context_parallel_seconds"
        case expertParallel = "expert_parallel_seconds", pipelineTransfers = "pipeline_transfer_seconds"
        case pipelineBubble = "pipeline_bubble_seconds", dataParallel = "data_parallel_seconds"
        case optimizer = "optimizer_seconds"
        case multiTokenPrediction = "multi_token_prediction_seconds"
    }
}

/// The predicted memory and speed of one layout.
public struct TrainingEstimate: Sendable, Equatable {
    public var layout: TrainingLayout
    public var memory: MemoryBreakdown
    public var time: TimeBreakdown
    /// Usable bytes per device (capacity minus the reserve).
    public var usableMemory: Double
    public var microBatches: Int
    public var bubbleFraction: Double
    /// Hardware FLOP/s per device in TFLOP/s, recomputation included (as Narayanan et al. 2021 count them).
    public var tflopsPerDevice: Double
    /// Model FLOPs utilization: FLOPs of forward and backward without recomputation over peak.
    public var mfu: Double
    public var tokensPerSecond: Double

    public var fits: Bool { memory.total <= usableMemory }
    public var stepTime: Double { time.total }
}
