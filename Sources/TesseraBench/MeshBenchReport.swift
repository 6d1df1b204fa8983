import Foundation

extension MeshBench.DataParallelResult {
    /// dp tokens/s over one rank's.
    public var ratio: Double { data.tokensPerSecond / single.tokensPerSecond }
    /// The median seconds per step the end of dp's backward waited for gradient buckets still in flight.
    public var reductionWait: Double { BenchStatistics.median(data.metrics.compactMap(\.reductionWaitSeconds)) }
    /// The median seconds per step rank 0 spent in collectives in the dp run.
    public var communication: Double { BenchStatistics.median(data.communicationSeconds) }
    /// One rank's AdamW bytes (the unsharded optimizer state).
    public var fullOptimizerBytes: Double { Double(single.metrics.last?.memory?.first?.optimizerBytes ?? 0) }
    /// Each rank's AdamW bytes under ZeRO-1.
    public var shardedOptimizerBytes: [Double] { (zero.metrics.last?.memory ?? []).map { Double($0.optimizerBytes) } }

    /// The table `tessera bench mesh` prints for data parallelism and ZeRO-1.
    public var lines: [String] {
        let fixed = BenchText.fixed, model = shape.config
        let worstShard = shardedOptimizerBytes.max() ?? 0
        return [
            "Data parallelism and ZeRO-1 on one machine: \(configName) (\(model.parameterCount) parameters), \(shape.batch) × \(shape.sequenceLength) tokens"
                + " per step, micro-batch \(microBatchSize), fp32, AdamW; threads backend",
            "Machine: \(TrainingBenchmark.machine). Median of \(steps) steps after \(warmup) warm-up steps.",
            "",
            "| layout | ranks × BLAS threads | tokens/s | step s | reduction wait s/step | collectives s/step | AdamW bytes per rank |",
            "|---|---|---:|---:|---:|---:|---:|",
            "| 1 rank | 1 × \(dp) | \(fixed(single.tokensPerSecond, 1)) | \(fixed(single.medianStepSeconds, 3)) | 0 | 0 | \(Int(fullOptimizerBytes)) |",
            "| dp=\(dp) | \(dp) × 1 | \(fixed(data.tokensPerSecond, 1)) | \(fixed(data.medianStepSeconds, 3)) | \(fixed(reductionWait, 4))"
                + " | \(fixed(communication, 4)) | \(data.metrics.last?.memory?.first?.optimizerBytes ?? 0) |",
            "| dp=\(dp) ZeRO-1 | \(dp) × 1 | \(fixed(zero.tokensPerSecond, 1)) | \(fixed(zero.medianStepSeconds, 3))"
                + " | \(fixed(BenchStatistics.median(zero.metrics.compactMap(\.reductionWaitSeconds)), 4))"
                + " | \(fixed(BenchStatistics.median(zero.communicationSeconds), 4)) | \(Int(worstShard)) |",
            "",
            "dp=\(dp) / 1 rank tokens/s: \(fixed(100 * ratio, 1))% (target ≥ 95%); losses equal within 1e-4: \(data.lossesMatch(single) ? "yes" : "NO")."
                + " Reduction wait: what the end of the backward waited for buckets still in flight; collectives: all time rank 0 spent in them.",
            "ZeRO-1 AdamW bytes per rank: \(fixed(100 * worstShard / max(1, fullOptimizerBytes), 1))% of one rank's (1/dp = \(fixed(100 / Double(dp), 1))%, target within 5% of it).",
        ]
    }

    /// The `data_parallel` object of the JSON.
    public var json: [String: Any] {
        let worstShard = shardedOptimizerBytes.max() ?? 0
        return [
            "config": configName, "batch": shape.batch, "seq_len": shape.sequenceLength, "micro_batch_size": microBatchSize, "dp": dp,
            "single": ["tokens_per_second": single.tokensPerSecond, "step_seconds": single.stepSeconds, "losses": single.losses],
            "dp_run": ["tokens_per_second": data.tokensPerSecond, "step_seconds": data.stepSeconds, "losses": data.losses,
                       "reduction_wait_seconds": reductionWait, "collective_seconds": communication],
            "ratio": ratio, "losses_equal": data.lossesMatch(single),
            "zero1": ["tokens_per_second": zero.tokensPerSecond, "optimizer_bytes_per_rank": shardedOptimizerBytes,
                      "single_optimizer_bytes": fullOptimizerBytes, "fraction": worstShard / max(1, fullOptimizerBytes)],
        ]
    }
}

extension MeshBench.MeshResult {
    /// The median `cblas_sgemm` FLOP/s on every core.
    public var sgemmFlops: Double { BenchStatistics.median(sgemmRates) * 1e9 }
    /// Model FLOPs of one step (``TrainingBenchmark/Shape/flopsPerStep``).
    public var flopsPerStep: Double { Double(shape.tokensPerStep) * shape.config.trainingFlopsPerToken(sequenceLength: shape.sequenceLength) }
    public var meshFlops: Double { flopsPerStep / mesh.medianStepSeconds }
    public var peerFlops: Double { flopsPerStep / peer.medianStepSeconds }

    /// The table `tessera bench mesh` prints for the 3D mesh.
    public var lines: [String] {
        let fixed = BenchText.fixed, model = shape.config, sgemm = sgemmFlops
        return [
            "",
            "3D mesh: \(configName) (\(model.parameterCount) parameters), \(shape.batch) × \(shape.sequenceLength) tokens per step, micro-batch 1,"
                + " 1F1B; median of 2 steps after 1 warm-up; sgemm: median of products sampled before and after the runs. Model FLOPs per token \(fixed(model.trainingFlopsPerToken(sequenceLength: shape.sequenceLength) / 1e9, 3)) G.",
            "",
            "| layout | ranks × BLAS threads | tokens/s | step s | model GFLOP/s | cblas_sgemm GFLOP/s (\(cores) threads) | MFU |",
            "|---|---|---:|---:|---:|---:|---:|",
            "| \(layout.description) | \(layout.ranks) × 1 | \(fixed(mesh.tokensPerSecond, 1)) | \(fixed(mesh.medianStepSeconds, 2))"
                + " | \(fixed(meshFlops / 1e9, 1)) | \(fixed(sgemm / 1e9, 1)) | \(fixed(100 * meshFlops / sgemm, 1))% |",
            "| 1 rank | 1 × \(cores) | \(fixed(peer.tokensPerSecond, 1)) | \(fixed(peer.medianStepSeconds, 2))"
                + " | \(fixed(peerFlops / 1e9, 1)) | \(fixed(sgemm / 1e9, 1)) | \(fixed(100 * peerFlops / sgemm, 1))% |",
        ]
    }

    /// The `mesh` object of the JSON.
    public var json: [String: Any] {
        let sgemm = sgemmFlops
        return [
            "config": configName, "layout": layout.description, "batch": shape.batch, "seq_len": shape.sequenceLength,
            "tokens_per_second": mesh.tokensPerSecond, "step_seconds": mesh.stepSeconds, "losses": mesh.losses,
            "model_flops_per_second": meshFlops, "sgemm_flops_per_second": sgemm, "mfu": meshFlops / sgemm,
            "single_rank": ["tokens_per_second": peer.tokensPerSecond, "step_seconds": peer.stepSeconds, "mfu": peerFlops / sgemm],
        ]
    }
}
