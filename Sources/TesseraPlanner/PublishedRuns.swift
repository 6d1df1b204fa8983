import TesseraPipeline

/// Published training runs the planner is checked against, with their sources.
public enum PublishedRuns {
    /// One row of Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using
    /// Megatron-LM" (SC'21), Table 1: weak scaling of GPT models on Selene (DGX A100 80GB, 8 GPUs per node, 8x HDR
    /// InfiniBand), vocabulary 51,200, sequence 2048, mixed precision, full activation recomputation, interleaved
    /// schedule with scatter/gather where pp > 1. TFLOP/s per GPU count 96·B·s·l·h²(1 + s/6h + V/16lh).
    ///
    /// The micro-batch size and the interleaving of each row are the authors' launch script for the table,
    /// NVIDIA/Megatron-LM `examples/sc21/run_table_1.sh` (MBS; `--num-layers-per-virtual-pipeline-stage` for 76B to
    /// 530B only: 39B and 1T ran the non-interleaved 1F1B schedule), with the `--fp16` and `--recompute-method uniform`
    /// of its CONFIG.sh. The paper (§5.1) says the tp and pp were "picked using heuristics described in §3": its
    /// Takeaways #1 (tp up to the 8 GPUs of a node, then pp) and #2 (the smallest model-parallel size that fits).
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
        /// The micro-batch size of run_table_1.sh.
        public var microBatchSize: Int
        /// run_table_1.sh's `--num-layers-per-virtual-pipeline-stage` (nil: not interleaved).
        public var layersPerVirtualStage: Int? = nil

        /// The row's launch recipe with only tp and pp left free, as rerunning run_table_1.sh with other TP and PP
        /// gives: Megatron-LM 2021's features, the row's micro-batch size and its schedule (interleaved with the
        /// same layers per model chunk where the row interleaves, 1F1B otherwise). This is how the paper compares
        /// meshes (§5.4: one model, one batch and micro-batch size, only the degrees of parallelism change).
        public var recipeSpace: TrainingSearchSpace {
            var space = PublishedRuns.megatron2021Space
            space.microBatchSizes = [microBatchSize]
            space.layersPerVirtualStage = layersPerVirtualStage
            if layersPerVirtualStage == nil { space.schedules = [.oneForwardOneBackward] }
            return space
        }

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
        MegatronRow(billions: 1.7, heads: 24, hiddenSize: 2304, layers: 24, tp: 1, pp: 1, gpus: 32, batchSize: 512, teraflopsPerGPU: 137, microBatchSize: 16),
        MegatronRow(billions: 3.6, heads: 32, hiddenSize: 3072, layers: 30, tp: 2, pp: 1, gpus: 64, batchSize: 512, teraflopsPerGPU: 138, microBatchSize: 16),
        MegatronRow(billions: 7.5, heads: 32, hiddenSize: 4096, layers: 36, tp: 4, pp: 1, gpus: 128, batchSize: 512, teraflopsPerGPU: 142, microBatchSize: 16),
        MegatronRow(billions: 18.4, heads: 48, hiddenSize: 6144, layers: 40, tp: 8, pp: 1, gpus: 256, batchSize: 1024, teraflopsPerGPU: 135, microBatchSize: 8),
        MegatronRow(billions: 39.1, heads: 64, hiddenSize: 8192, layers: 48, tp: 8, pp: 2, gpus: 512, batchSize: 1536, teraflopsPerGPU: 138, microBatchSize: 4),
        MegatronRow(billions: 76.1, heads: 80, hiddenSize: 10240, layers: 60, tp: 8, pp: 4, gpus: 1024, batchSize: 1792, teraflopsPerGPU: 140, microBatchSize: 2, layersPerVirtualStage: 5),
        MegatronRow(billions: 145.6, heads: 96, hiddenSize: 12288, layers: 80, tp: 8, pp: 8, gpus: 1536, batchSize: 2304, teraflopsPerGPU: 148, microBatchSize: 2, layersPerVirtualStage: 5),
        MegatronRow(billions: 310.1, heads: 128, hiddenSize: 16384, layers: 96, tp: 8, pp: 16, gpus: 1920, batchSize: 2160, teraflopsPerGPU: 155, microBatchSize: 1, layersPerVirtualStage: 3),
        MegatronRow(billions: 529.6, heads: 128, hiddenSize: 20480, layers: 105, tp: 8, pp: 35, gpus: 2520, batchSize: 2520, teraflopsPerGPU: 163, microBatchSize: 1, layersPerVirtualStage: 1),
        MegatronRow(billions: 1008.0, heads: 160, hiddenSize: 25600, layers: 128, tp: 8, pp: 64, gpus: 3072, batchSize: 3072, teraflopsPerGPU: 163, microBatchSize: 1),
    ]

    /// What Megatron-LM offered in 2021 (``SoftwareProfile/megatron2021``): the software the table was measured
    /// with, which the validation searches.
    public static var megatron2021Space: TrainingSearchSpace { SoftwareProfile.megatron2021.space }

    /// The planner's view of one Megatron row.
    public struct MegatronCheck: Sendable {
        public var row: MegatronRow
        /// The published layout as run_table_1.sh ran it (tp, pp, micro-batch size, schedule), estimated.
        public var published: TrainingEstimate
        /// Rank (1-based) of the published (tp, pp) among distinct meshes when only tp and pp vary and the rest of
        /// the row's recipe is kept (``MegatronRow/recipeSpace``): the ranking issue #9's requirement is judged on.
        public var rankInRecipe: Int?
        /// Rank when the micro-batch size and schedule are free too, in Megatron-LM 2021's features, and in the
        /// planner's full space (nil: below ``PublishedRuns/rankDepth``).
        public var rankIn2021Space: Int?
        public var rankInFullSpace: Int?
        /// Rank of the first mesh with the published model-parallel size tp·pp (Narayanan et al.'s M), 2021 space.
        public var modelParallelRankIn2021Space: Int?
        /// The planner's best mesh in the 2021 space.
        public var best: TrainingEstimate
        /// The searches with the row's recipe and in the 2021 space (their best meshes are the rankings above).
        public var planRecipe: TrainingPlan
        public var plan2021: TrainingPlan

        /// Predicted over published TFLOP/s per GPU.
        public var ratio: Double { published.tflopsPerDevice / row.teraflopsPerGPU }

        /// Whether the published (tp, pp) ranks within ``PublishedRuns/requiredRank`` with the row's recipe.
        public var meetsRequiredRank: Bool { (rankInRecipe ?? Int.max) <= PublishedRuns.requiredRank }

        /// How much longer the published mesh's step is than that of the mesh ranked
        /// ``PublishedRuns/requiredRank`` in `plan` (negative or zero when it ranks within; nil with fewer meshes).
        public func slowdownVersusRequiredRank(in plan: TrainingPlan) -> Double? {
            let meshes = plan.bestMeshes
            guard meshes.count >= PublishedRuns.requiredRank else { return nil }
            let own = meshes.first { $0.layout.tp == row.tp && $0.layout.pp == row.pp }?.stepTime ?? published.stepTime
            return own / meshes[PublishedRuns.requiredRank - 1].stepTime - 1
        }
    }

    /// Ranks deeper than this are reported as nil.
    public static let rankDepth = 30

    /// Issue #9 asks that the published (tp, pp) be among the planner's five best meshes.
    public static let requiredRank = 5

    /// Runs the planner on each Megatron row (A100 80GB from `catalog`), ranking meshes down to `rankDepth`: with
    /// the row's recipe (the required ranking), in Megatron-LM 2021's features and in the full space.
    public static func checkMegatron(
        _ rows: [MegatronRow] = megatronWeakScaling, on accelerator: Accelerator, rankDepth: Int = rankDepth
    ) throws -> [MegatronCheck] {
        try rows.map { row in
            let job = row.job(on: accelerator)
            var fixed = row.recipeSpace
            fixed.tensorParallelSizes = [row.tp]
            fixed.pipelineParallelSizes = [row.pp]
            let published = try TrainingSearch.run(job, space: fixed, keep: 1, keepMeshes: 1)
            let recipe = try TrainingSearch.run(job, space: row.recipeSpace, keep: 1, keepMeshes: rankDepth)
            let restricted = try TrainingSearch.run(job, space: megatron2021Space, keep: 1, keepMeshes: rankDepth)
            let full = try TrainingSearch.run(job, keep: 1, keepMeshes: rankDepth)
            func rank(_ plan: TrainingPlan) -> Int? {
                plan.bestMeshes.firstIndex { $0.layout.tp == row.tp && $0.layout.pp == row.pp }.map { $0 + 1 }
            }
            func productRank(_ plan: TrainingPlan) -> Int? {
                plan.bestMeshes.firstIndex { $0.layout.tp * $0.layout.pp == row.tp * row.pp }.map { $0 + 1 }
            }
            guard let best = published.ranked.first, let overall = restricted.ranked.first else {
                throw PlannerError.noValidLayout(reasons: [
                    "the published layout of the \(row.billions)B row (tp\(row.tp) pp\(row.pp) mbs\(row.microBatchSize)) "
                        + "does not fit in the memory model",
                ])
            }
            return MegatronCheck(
                row: row, published: best, rankInRecipe: rank(recipe), rankIn2021Space: rank(restricted),
                rankInFullSpace: rank(full), modelParallelRankIn2021Space: productRank(restricted), best: overall,
                planRecipe: recipe, plan2021: restricted)
        }
    }
}

extension PublishedRuns {
    /// Narayanan et al. 2021 §5.4.1, Figure 13: a GPT model of 162.2 billion parameters (32 layers, hidden size
    /// 20480, 128 heads) on 64 A100 GPUs with (tp, pp) = (32, 2), (16, 4), (8, 8), (4, 16), (2, 32), no data
    /// parallelism, micro-batch size 1, the non-interleaved schedule and full recomputation, at global batch sizes
    /// 32 and 128 (NVIDIA/Megatron-LM `examples/sc21/run_figure_13.sh`). The figure's bars are not given as numbers;
    /// the text states the ranking's top: "we see peak performance when the tensor-parallel size is equal to the
    /// number of GPUs in a single node (8 with DGX A100 nodes)", at both batch sizes.
    public static let figure13Model = ModelArchitecture.gpt(
        name: "megatron-gpt-162b", hiddenSize: 20480, layers: 32, heads: 128, vocabularySize: 51_200,
        sequenceLength: 2048, source: "Narayanan et al. 2021, Figure 13 (run_figure_13.sh)")
    public static let figure13BatchSizes = [32, 128]
    public static let figure13TensorSizes = [2, 4, 8, 16, 32]

    /// The planner's ranking of Figure 13's five (tp, pp) combinations at one global batch size, fastest first.
    public static func figure13Ranking(batchSize: Int, on accelerator: Accelerator) throws -> [TrainingEstimate] {
        let job = TrainingJob(
            model: figure13Model, accelerator: accelerator, devices: 64, sequenceLength: 2048,
            globalBatchSize: batchSize, computeFormat: .fp16)
        var space = megatron2021Space
        space.microBatchSizes = [1]
        space.schedules = [.oneForwardOneBackward]
        space.tensorParallelSizes = Set(figure13TensorSizes)
        space.pipelineParallelSizes = Set(figure13TensorSizes.map { 64 / $0 })
        let plan = try TrainingSearch.run(job, space: space, keep: 1, keepMeshes: 64)
        return plan.bestMeshes.filter { $0.layout.dp == 1 }
    }
}
