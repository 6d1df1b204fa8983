import TesseraPipeline

/// Published training runs the planner is checked against, with their sources.
public enum PublishedRuns {
    /// One row of Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using
    /// Megatron-LM" (SC'21), Table 1: weak scaling of GPT models on Selene (DGX A100 80GB, 8 GPUs per node, 8x HDR
    /// InfiniBand), vocabulary 51,200, sequence 2048, mixed precision, full activation recomputation, interleaved
    /// schedule with scatter/gather where pp > 1. TFLOP/s per GPU count 96·B·s·l·h²(1 + s/6h + V/16lh).
    public struct MegatronRow: Sendable {
        public var billions: Double
        public var heads: Int
        public var hiddenSize: Int
        public var layers: Int
        public var tp: Int
        public var pp: Int
        public var gpus: Int
        public var batchSize: Int
        public var teraflopsPerGPU: Double

        /// The GPT model of this row.
        public var model: ModelArchitecture {
            .gpt(name: "megatron-gpt-\(billions)b", hiddenSize: hiddenSize, layers: layers, heads: heads,
                 vocabularySize: 51_200, sequenceLength: 2048,
                 source: "Narayanan et al. 2021, Table 1 (\(billions)B row)")
        }

        /// The training job of this row on `accelerator` (A100 80GB for the published figures).
        public func job(on accelerator: Accelerator) -> TrainingJob {
            TrainingJob(
                model: model, accelerator: accelerator, devices: gpus, sequenceLength: 2048,
                globalBatchSize: batchSize, computeFormat: .fp16)
        }
    }

    /// Narayanan et al. 2021, Table 1 (all ten rows).
    public static let megatronWeakScaling: [MegatronRow] = [
        MegatronRow(billions: 1.7, heads: 24, hiddenSize: 2304, layers: 24, tp: 1, pp: 1, gpus: 32, batchSize: 512, teraflopsPerGPU: 137),
        MegatronRow(billions: 3.6, heads: 32, hiddenSize: 3072, layers: 30, tp: 2, pp: 1, gpus: 64, batchSize: 512, teraflopsPerGPU: 138),
        MegatronRow(billions: 7.5, heads: 32, hiddenSize: 4096, layers: 36, tp: 4, pp: 1, gpus: 128, batchSize: 512, teraflopsPerGPU: 142),
        MegatronRow(billions: 18.4, heads: 48, hiddenSize: 6144, layers: 40, tp: 8, pp: 1, gpus: 256, batchSize: 1024, teraflopsPerGPU: 135),
        MegatronRow(billions: 39.1, heads: 64, hiddenSize: 8192, layers: 48, tp: 8, pp: 2, gpus: 512, batchSize: 1536, teraflopsPerGPU: 138),
        MegatronRow(billions: 76.1, heads: 80, hiddenSize: 10240, layers: 60, tp: 8, pp: 4, gpus: 1024, batchSize: 1792, teraflopsPerGPU: 140),
        MegatronRow(billions: 145.6, heads: 96, hiddenSize: 12288, layers: 80, tp: 8, pp: 8, gpus: 1536, batchSize: 2304, teraflopsPerGPU: 148),
        MegatronRow(billions: 310.1, heads: 128, hiddenSize: 16384, layers: 96, tp: 8, pp: 16, gpus: 1920, batchSize: 2160, teraflopsPerGPU: 155),
        MegatronRow(billions: 529.6, heads: 128, hiddenSize: 20480, layers: 105, tp: 8, pp: 35, gpus: 2520, batchSize: 2520, teraflopsPerGPU: 163),
        MegatronRow(billions: 1008.0, heads: 160, hiddenSize: 25600, layers: 128, tp: 8, pp: 64, gpus: 3072, batchSize: 3072, teraflopsPerGPU: 163),
    ]

    /// What Megatron-LM offered in 2021: 1F1B and interleaved schedules, full recomputation only, no ZeRO, no
    /// context or expert parallelism, no sequence parallelism, attention that materializes the s × s scores (fused
    /// scale-mask-softmax, before FlashAttention), and an optimizer step on an FP32 copy of the gradients. The
    /// validation searches this space, the software the table was measured with.
    public static var megatron2021Space: TrainingSearchSpace {
        var space = TrainingSearchSpace()
        space.schedules = [.oneForwardOneBackward, .interleaved]
        space.recompute = [.full]
        space.zeroStages = [0]
        space.contextParallelSizes = [1]
        space.sequenceParallel = false
        space.flashAttention = false
        space.float32GradientCopy = true
        return space
    }

    /// The planner's view of one Megatron row.
    public struct MegatronCheck: Sendable {
        public var row: MegatronRow
        /// The best estimate with the published tp and pp (any micro-batch and schedule of the 2021 space).
        public var published: TrainingEstimate
        /// Rank (1-based) of the published (tp, pp) among distinct meshes, in the 2021 space and in the full space
        /// (nil: below ``PublishedRuns/rankDepth``).
        public var rankIn2021Space: Int?
        public var rankInFullSpace: Int?
        /// Rank of the first mesh with the published model-parallel size tp·pp (Narayanan et al.'s M), 2021 space.
        public var modelParallelRankIn2021Space: Int?
        /// The planner's best mesh in the 2021 space.
        public var best: TrainingEstimate
        /// The search in the 2021 space (its best meshes are the ranking above).
        public var plan2021: TrainingPlan

        /// Predicted over published TFLOP/s per GPU.
        public var ratio: Double { published.tflopsPerDevice / row.teraflopsPerGPU }

        /// Whether the published (tp, pp) ranks within ``PublishedRuns/requiredRank`` in the 2021 space.
        public var meetsRequiredRank: Bool { (rankIn2021Space ?? Int.max) <= PublishedRuns.requiredRank }

        /// How much longer the published mesh's best step is than that of the mesh ranked
        /// ``PublishedRuns/requiredRank`` (negative or zero when it ranks within; nil with fewer meshes).
        public var slowdownVersusRequiredRank: Double? {
            let meshes = plan2021.bestMeshes
            guard meshes.count >= PublishedRuns.requiredRank else { return nil }
            return published.stepTime / meshes[PublishedRuns.requiredRank - 1].stepTime - 1
        }
    }

    /// Ranks deeper than this are reported as nil.
    public static let rankDepth = 30

    /// Issue #9 asks that the published (tp, pp) be among the planner's five best meshes.
    public static let requiredRank = 5

    /// Runs the planner on each Megatron row (A100 80GB from `catalog`), ranking meshes down to `rankDepth`.
    public static func checkMegatron(
        _ rows: [MegatronRow] = megatronWeakScaling, on accelerator: Accelerator, rankDepth: Int = rankDepth
    ) throws -> [MegatronCheck] {
        try rows.map { row in
            let job = row.job(on: accelerator)
            var fixed = megatron2021Space
            fixed.tensorParallelSizes = [row.tp]
            fixed.pipelineParallelSizes = [row.pp]
            let published = try TrainingSearch.run(job, space: fixed, keep: 1, keepMeshes: 1)
            let restricted = try TrainingSearch.run(job, space: megatron2021Space, keep: 1, keepMeshes: rankDepth)
            let full = try TrainingSearch.run(job, keep: 1, keepMeshes: rankDepth)
            func rank(_ plan: TrainingPlan) -> Int? {
                plan.bestMeshes.firstIndex { $0.layout.tp == row.tp && $0.layout.pp == row.pp }.map { $0 + 1 }
            }
            func productRank(_ plan: TrainingPlan) -> Int? {
                plan.bestMeshes.firstIndex { $0.layout.tp * $0.layout.pp == row.tp * row.pp }.map { $0 + 1 }
            }
            guard let best = published.ranked.first, let overall = restricted.ranked.first else {
                throw PlannerError.noValidLayout(reasons: ["the published layout of the \(row.billions)B row does not fit"])
            }
            return MegatronCheck(
                row: row, published: best, rankIn2021Space: rank(restricted), rankInFullSpace: rank(full),
                modelParallelRankIn2021Space: productRank(restricted), best: overall, plan2021: restricted)
        }
    }
}
