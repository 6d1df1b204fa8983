import ArgumentParser
import Foundation
import TesseraModels
import TesseraParallel
import TesseraTensor
import TesseraTrain

/// `tessera bench mesh`: data parallelism, ZeRO-1 and a 3D mesh on the cores of one machine, each against its
/// peer measured in the same run: dp=N ranks × 1 BLAS thread against one rank with N BLAS threads at the same
/// global batch; ZeRO-1's optimizer bytes per rank against 1/dp of one rank's; the dp × pp × tp mesh's model
/// FLOP/s against the `cblas_sgemm` rate of all cores (MFU) and against one rank on the same shape.
struct BenchMesh: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesh",
        abstract: "Data parallelism (dp=N vs 1 rank), ZeRO-1 optimizer bytes and a dp×pp×tp mesh's MFU, side by side.")

    @Option(help: "Model of the data-parallel and ZeRO runs (preset or config.json).")
    var config = "demo"

    @Option(help: "Sequences per step (global batch) of the data-parallel and ZeRO runs.")
    var batch = 16

    @Option(name: .customLong("micro-batch-size"), help: "Sequences per micro-batch in every data-parallel run.")
    var microBatchSize = 4

    @Option(name: .customLong("seq-len"), help: "Tokens per sequence.")
    var sequenceLength = 128

    @Option(help: "Data-parallel ranks (and cores).")
    var dp = 2

    @Option(name: .customLong("mesh-config"), help: "Model of the 3D run.")
    var meshConfig = "gpt2-small"

    @Option(name: .customLong("mesh-batch"), help: "Global batch of the 3D run.")
    var meshBatch = 8

    @Option(name: .customLong("mesh"), help: "The 3D layout as dp,pp,tp.")
    var mesh = "2,2,2"

    @Flag(name: .customLong("skip-mesh"), help: "Leave out the 3D run (it trains the GPT-2-small shape: minutes).")
    var skipMesh = false

    @Option(help: "Untimed warm-up steps.")
    var warmup = 2

    @Option(help: "Timed steps (medians are reported).")
    var steps = 5

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func run() throws {
        let log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let model = try TransformerConfig.named(config)
        let shape = TrainingBenchmark.Shape(config: model, batch: batch, sequenceLength: sequenceLength)
        func layout(dp: Int, pp: Int = 1, tp: Int = 1, zero: Int = 0, micro: Int) throws -> ParallelConfig {
            try ParallelConfig(dp: dp, pp: pp, tp: tp, microBatchSize: micro, memory: .init(zeroStage: zero))
        }
        let fixed = TrainingBenchmark.fixed
        var report: [String: Any] = ["benchmark": "mesh", "machine": TrainingBenchmark.machine, "warmup_steps": warmup, "timed_steps": steps]

        log("1 rank × \(dp) BLAS threads (\(config), \(batch) × \(sequenceLength), micro-batch \(microBatchSize))…")
        let single = try TrainingBenchmark.measure(shape, parallel: layout(dp: 1, micro: microBatchSize), blasThreads: dp,
                                                   warmup: warmup, steps: steps, progress: log)
        log("dp=\(dp): \(dp) ranks × 1 BLAS thread…")
        let data = try TrainingBenchmark.measure(shape, parallel: layout(dp: dp, micro: microBatchSize), blasThreads: 1,
                                                 warmup: warmup, steps: steps, progress: log)
        log("dp=\(dp) with ZeRO-1…")
        let zero = try TrainingBenchmark.measure(shape, parallel: layout(dp: dp, zero: 1, micro: microBatchSize), blasThreads: 1,
                                                 warmup: warmup, steps: steps, progress: log)
        let ratio = data.tokensPerSecond / single.tokensPerSecond
        let wait = TrainingBenchmark.median(data.metrics.compactMap(\.reductionWaitSeconds))
        let communication = TrainingBenchmark.median(data.communicationSeconds)
        let fullOptimizer = Double(single.metrics.last?.memory?.first?.optimizerBytes ?? 0)
        let shardedOptimizer = (zero.metrics.last?.memory ?? []).map { Double($0.optimizerBytes) }
        let worstShard = shardedOptimizer.max() ?? 0
        let equal = data.lossesMatch(single)

        print("Data parallelism and ZeRO-1 on one machine: \(config) (\(model.parameterCount) parameters), \(batch) × \(sequenceLength) tokens"
              + " per step, micro-batch \(microBatchSize), fp32, AdamW; threads backend")
        print("Machine: \(TrainingBenchmark.machine). Median of \(steps) steps after \(warmup) warm-up steps.")
        print("")
        print("| layout | ranks × BLAS threads | tokens/s | step s | reduction wait s/step | collectives s/step | AdamW bytes per rank |")
        print("|---|---|---:|---:|---:|---:|---:|")
        print("| 1 rank | 1 × \(dp) | \(fixed(single.tokensPerSecond, 1)) | \(fixed(single.medianStepSeconds, 3)) | 0 | 0 | \(Int(fullOptimizer)) |")
        print("| dp=\(dp) | \(dp) × 1 | \(fixed(data.tokensPerSecond, 1)) | \(fixed(data.medianStepSeconds, 3)) | \(fixed(wait, 4))"
              + " | \(fixed(communication, 4)) | \(data.metrics.last?.memory?.first?.optimizerBytes ?? 0) |")
        print("| dp=\(dp) ZeRO-1 | \(dp) × 1 | \(fixed(zero.tokensPerSecond, 1)) | \(fixed(zero.medianStepSeconds, 3))"
              + " | \(fixed(TrainingBenchmark.median(zero.metrics.compactMap(\.reductionWaitSeconds)), 4))"
              + " | \(fixed(TrainingBenchmark.median(zero.communicationSeconds), 4)) | \(Int(worstShard)) |")
        print("")
        print("dp=\(dp) / 1 rank tokens/s: \(fixed(100 * ratio, 1))% (target ≥ 95%); losses equal within 1e-4: \(equal ? "yes" : "NO")."
              + " Reduction wait: what the end of the backward waited for buckets still in flight; collectives: all time rank 0 spent in them.")
        print("ZeRO-1 AdamW bytes per rank: \(fixed(100 * worstShard / max(1, fullOptimizer), 1))% of one rank's (1/dp = \(fixed(100 / Double(dp), 1))%, target within 5% of it).")
        report["data_parallel"] = [
            "config": config, "batch": batch, "seq_len": sequenceLength, "micro_batch_size": microBatchSize, "dp": dp,
            "single": ["tokens_per_second": single.tokensPerSecond, "step_seconds": single.stepSeconds, "losses": single.losses],
            "dp_run": ["tokens_per_second": data.tokensPerSecond, "step_seconds": data.stepSeconds, "losses": data.losses,
                   "reduction_wait_seconds": wait, "collective_seconds": communication],
            "ratio": ratio, "losses_equal": equal,
            "zero1": ["tokens_per_second": zero.tokensPerSecond, "optimizer_bytes_per_rank": shardedOptimizer,
                      "single_optimizer_bytes": fullOptimizer, "fraction": worstShard / max(1, fullOptimizer)],
        ]

        if !skipMesh {
            let axes = mesh.split(separator: ",").compactMap { Int($0) }
            guard axes.count == 3 else { throw ValidationError("--mesh takes dp,pp,tp (e.g. 2,2,2), not '\(mesh)'") }
            let meshModel = try TransformerConfig.named(meshConfig)
            let meshShape = TrainingBenchmark.Shape(config: meshModel, batch: meshBatch, sequenceLength: sequenceLength)
            let layout3D = try layout(dp: axes[0], pp: axes[1], tp: axes[2], micro: 1)
            var sgemmRates = TrainingBenchmark.sgemmSamples(m: 1024, n: 1024, k: 1024, threads: cores)
            let flopsPerStep = Double(meshShape.tokensPerStep) * meshModel.trainingFlopsPerToken(sequenceLength: sequenceLength)
            log("\(layout3D.description) on \(layout3D.ranks) ranks × 1 BLAS thread (\(meshConfig), \(meshBatch) × \(sequenceLength))…")
            let meshRun = try TrainingBenchmark.measure(meshShape, parallel: layout3D, blasThreads: 1, warmup: 1, steps: 2, progress: log)
            log("the same shape on 1 rank × \(cores) BLAS threads…")
            let peer = try TrainingBenchmark.measure(meshShape, parallel: layout(dp: 1, micro: 1), blasThreads: cores, warmup: 1, steps: 2,
                                                     progress: log)
            sgemmRates += TrainingBenchmark.sgemmSamples(m: 1024, n: 1024, k: 1024, threads: cores)
            let sgemm = TrainingBenchmark.median(sgemmRates) * 1e9
            let meshFlops = flopsPerStep / meshRun.medianStepSeconds, peerFlops = flopsPerStep / peer.medianStepSeconds
            print("")
            print("3D mesh: \(meshConfig) (\(meshModel.parameterCount) parameters), \(meshBatch) × \(sequenceLength) tokens per step, micro-batch 1,"
                  + " 1F1B; median of 2 steps after 1 warm-up; sgemm: median of products sampled before and after the runs. Model FLOPs per token \(fixed(meshModel.trainingFlopsPerToken(sequenceLength: sequenceLength) / 1e9, 3)) G.")
            print("")
            print("| layout | ranks × BLAS threads | tokens/s | step s | model GFLOP/s | cblas_sgemm GFLOP/s (\(cores) threads) | MFU |")
            print("|---|---|---:|---:|---:|---:|---:|")
            print("| \(layout3D.description) | \(layout3D.ranks) × 1 | \(fixed(meshRun.tokensPerSecond, 1)) | \(fixed(meshRun.medianStepSeconds, 2))"
                  + " | \(fixed(meshFlops / 1e9, 1)) | \(fixed(sgemm / 1e9, 1)) | \(fixed(100 * meshFlops / sgemm, 1))% |")
            print("| 1 rank | 1 × \(cores) | \(fixed(peer.tokensPerSecond, 1)) | \(fixed(peer.medianStepSeconds, 2))"
                  + " | \(fixed(peerFlops / 1e9, 1)) | \(fixed(sgemm / 1e9, 1)) | \(fixed(100 * peerFlops / sgemm, 1))% |")
            report["mesh"] = [
                "config": meshConfig, "layout": layout3D.description, "batch": meshBatch, "seq_len": sequenceLength,
                "tokens_per_second": meshRun.tokensPerSecond, "step_seconds": meshRun.stepSeconds, "losses": meshRun.losses,
                "model_flops_per_second": meshFlops, "sgemm_flops_per_second": sgemm, "mfu": meshFlops / sgemm,
                "single_rank": ["tokens_per_second": peer.tokensPerSecond, "step_seconds": peer.stepSeconds, "mfu": peerFlops / sgemm],
            ]
        }
        if let json { try TrainingBenchmark.writeJSON(report, to: json) }
    }
}
