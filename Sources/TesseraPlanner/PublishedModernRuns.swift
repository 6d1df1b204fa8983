import TesseraPipeline

/// Published long-context and mixture-of-experts runs with their layouts, next to Narayanan et al.'s table: each
/// row's layout, its software as the closest ``SoftwareProfile`` (with the row's own differences), and its
/// throughput as published.
public struct PublishedRun: Sendable {
    public var name: String
    /// Where the layout and the figure come from.
    public var source: String
    /// Catalog names of the model and the GPU.
    public var model: String
    public var accelerator: String
    public var gpus: Int
    public var sequenceLength: Int
    public var globalBatchSize: Int
    public var computeFormat: ComputeFormat
    public var tp, pp, cp, ep: Int
    public var microBatchSize: Int
    /// Published model TFLOP/s per GPU, or tokens per second per GPU where only that is published.
    public var teraflopsPerGPU: Double?
    public var tokensPerSecondPerGPU: Double?
    /// The row's software and recipe with the mesh (tp, pp, cp, ep) left free: the space its rank is judged in.
    public var space: TrainingSearchSpace
    /// The published TFLOP/s count the whole s × s score matrix (Megatron's `num_floating_point_operations`, as
    /// Narayanan et al. 2021's appendix), not only the causal half a causal kernel computes.
    public var countsWholeScoreMatrix = false
}

/// The planner's view of one ``PublishedRun``.
public struct PublishedRunCheck: Sendable {
    public var run: PublishedRun
    /// The published mesh with the best schedule and options the row's software allows.
    public var published: TrainingEstimate
    /// Rank (1-based) of the published mesh among the distinct meshes of the row's space (nil: below the depth).
    public var rank: Int?
    public var plan: TrainingPlan

    /// Predicted over published: model TFLOP/s per GPU counting the attention scores as the source does (the
    /// causal half unless ``PublishedRun/countsWholeScoreMatrix``; ``modelTeraflops``), or tokens per second per
    /// GPU where only that is published.
    public var ratio: Double {
        if let tflops = run.teraflopsPerGPU { return modelTeraflops(causal: !run.countsWholeScoreMatrix) / tflops }
        return published.tokensPerSecond / Double(run.gpus) / (run.tokensPerSecondPerGPU ?? .nan)
    }

    /// Model TFLOP/s per GPU of the published layout: forward and backward FLOPs without recomputation over its
    /// step. The Llama 3 paper does not say whether its MFU counts the whole s × s score matrix (Narayanan et al.'s
    /// convention) or the causal half its kernels compute; at 128K tokens the two differ by a factor of 1.4, so
    /// `plan validate` prints both and judges the causal count.
    public func modelTeraflops(causal: Bool) -> Double {
        let flops = TrainingCostModel(job: plan.job).stepFLOPs(published.layout.recompute, causal: causal).model
        return flops / (Double(published.layout.deviceCount) * published.stepTime) / 1e12
    }

    /// Whether the published mesh ranks within ``PublishedRuns/requiredRank``.
    public var meetsRequiredRank: Bool { (rank ?? Int.max) <= PublishedRuns.requiredRank }
}

extension PublishedRuns {
    /// Llama 3 405B (Llama Team, AI @ Meta 2024, "The Llama 3 Herd of Models", §3.3.2 and Table 4): 126 layers on
    /// H100 80GB GPUs with tp 8, pp 16, and cp 16 for the 128K-token stage; 16M tokens per batch; BF16; the
    /// published TFLOP/s per GPU (their MFU times 989 TFLOP/s). Their software is ``SoftwareProfile/llama3``, one
    /// sequence per micro-batch.
    public static var llama3Runs: [PublishedRun] {
        var space = SoftwareProfile.llama3.space
        space.microBatchSizes = [1]
        let source = "Llama Team 2024, The Llama 3 Herd of Models, Table 4"
        return [
            PublishedRun(
                name: "Llama 3 405B, 8K, 8192 GPUs", source: source, model: "llama-3-405b", accelerator: "H100-SXM",
                gpus: 8192, sequenceLength: 8192, globalBatchSize: 2048, computeFormat: .bf16, tp: 8, pp: 16, cp: 1,
                ep: 1, microBatchSize: 1, teraflopsPerGPU: 430, space: space),
            PublishedRun(
                name: "Llama 3 405B, 8K, 16384 GPUs", source: source, model: "llama-3-405b", accelerator: "H100-SXM",
                gpus: 16384, sequenceLength: 8192, globalBatchSize: 2048, computeFormat: .bf16, tp: 8, pp: 16, cp: 1,
                ep: 1, microBatchSize: 1, teraflopsPerGPU: 400, space: space),
            PublishedRun(
                name: "Llama 3 405B, 128K, 16384 GPUs", source: source, model: "llama-3-405b", accelerator: "H100-SXM",
                gpus: 16384, sequenceLength: 131_072, globalBatchSize: 128, computeFormat: .bf16, tp: 8, pp: 16,
                cp: 16, ep: 1, microBatchSize: 1, teraflopsPerGPU: 380, space: space),
        ]
    }

    /// DeepSeek-V3 (DeepSeek-AI 2024, "DeepSeek-V3 Technical Report"): 2048 H800 GPUs, pp 16, ep 64 over 8 nodes,
    /// ZeRO-1 data parallelism, no tensor parallelism (§3.2), FP8 matrix products (§3.3), sequence 4096 and a batch
    /// of 15,360 sequences (§4.2, after its ramp-up); 180K H800 GPU hours per trillion tokens (§1), i.e. 10^12 /
    /// (180,000 × 3600) = 1,543 tokens per second per GPU. Its software is ``SoftwareProfile/deepSeekV3`` in FP8, one
    /// sequence per micro-batch and ZeRO-1.
    public static var deepSeekV3Run: PublishedRun {
        var space = SoftwareProfile.deepSeekV3.space
        space.microBatchSizes = [1]
        space.zeroStages = [1]
        return PublishedRun(
            name: "DeepSeek-V3, 4K, 2048 GPUs", source: "DeepSeek-AI 2024, DeepSeek-V3 Technical Report, §1, §3.2, §4.2",
            model: "deepseek-v3", accelerator: "H800", gpus: 2048, sequenceLength: 4096, globalBatchSize: 15_360,
            computeFormat: .fp8, tp: 1, pp: 16, cp: 1, ep: 64, microBatchSize: 1, tokensPerSecondPerGPU: 1e12 / (180_000 * 3600),
            space: space)
    }

    /// Mixtral 8x7B under Megatron-Core v0.8 (NVIDIA Megatron-LM, `megatron/core/transformer/moe/README.md`,
    /// "Reference Best Parallel Mapping": dropless, all-to-all dispatcher, BF16, 64 H100 80GB (8 per server,
    /// NVLink 4, 8 × 400 Gb/s InfiniBand), sequence 4096, TP 1, EP 8, PP 4, VP 8, micro-batch 1, global batch 256;
    /// "This boosts Mixtral 8X7B bf16 training to achieve 438 TFLOPS as of MCore v0.8"). Its software is
    /// ``SoftwareProfile/megatronCore`` with the table's recipe: one sequence per micro-batch and VP 8 over PP 4's
    /// 8 layers per stage, one layer per model chunk (`--num-layers-per-virtual-pipeline-stage 1`), whatever the pp.
    /// Megatron counts the whole score matrix in its TFLOP/s. The same table's Mixtral 8x22B layout (128 GPUs, TP 4,
    /// EP 2, PP 8, VP 7) has no published throughput, so it is not a row.
    public static var mixtralRun: PublishedRun {
        var space = SoftwareProfile.megatronCore.space
        space.microBatchSizes = [1]
        space.layersPerVirtualStage = 1
        return PublishedRun(
            name: "Mixtral 8x7B, 4K, 64 GPUs",
            source: "NVIDIA Megatron-LM, megatron/core/transformer/moe/README.md (MCore v0.8), Reference Best Parallel Mapping",
            model: "mixtral-8x7b", accelerator: "H100-SXM", gpus: 64, sequenceLength: 4096, globalBatchSize: 256,
            computeFormat: .bf16, tp: 1, pp: 4, cp: 1, ep: 8, microBatchSize: 1, teraflopsPerGPU: 438, space: space,
            countsWholeScoreMatrix: true)
    }

    /// The long-context and MoE rows, in the order `plan validate` prints them.
    public static var modernRuns: [PublishedRun] { llama3Runs + [deepSeekV3Run, mixtralRun] }

    /// Runs the planner on each row: the published mesh's best layout in the row's space, and the mesh's rank.
    public static func check(_ runs: [PublishedRun] = modernRuns, catalog: Catalog, rankDepth: Int = rankDepth)
        throws -> [PublishedRunCheck]
    {
        try runs.map { run in
            let job = TrainingJob(
                model: try catalog.model(named: run.model), accelerator: try catalog.accelerator(named: run.accelerator),
                devices: run.gpus, sequenceLength: run.sequenceLength, globalBatchSize: run.globalBatchSize,
                computeFormat: run.computeFormat)
            var fixed = run.space
            fixed.tensorParallelSizes = [run.tp]
            fixed.pipelineParallelSizes = [run.pp]
            fixed.contextParallelSizes = [run.cp]
            fixed.expertParallelSizes = [run.ep]
            let own = try TrainingSearch.run(job, space: fixed, keep: 1, keepMeshes: 1)
            guard let published = own.ranked.first else {
                throw PlannerError.noValidLayout(reasons: ["the published layout of \(run.name) does not fit in the memory model"])
            }
            let plan = try TrainingSearch.run(job, space: run.space, keep: 1, keepMeshes: rankDepth)
            let rank = plan.bestMeshes.firstIndex {
                $0.layout.tp == run.tp && $0.layout.pp == run.pp && $0.layout.cp == run.cp && $0.layout.ep == run.ep
            }.map { $0 + 1 }
            return PublishedRunCheck(run: run, published: published, rank: rank, plan: plan)
        }
    }
}
