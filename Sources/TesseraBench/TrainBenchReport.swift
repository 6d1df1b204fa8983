import Foundation

extension TrainBench.Result {
    /// The table `tessera bench train` prints: one row per implementation and the limit, then the ratios.
    public var lines: [String] {
        let fixed = BenchText.fixed, model = shape.config, sgemm = self.sgemm
        let (m, n, k) = sgemmShape
        var lines = [
            "Training throughput: \(configName)\(layers.map { " (\($0) layers)" } ?? "") (\(model.parameterCount) parameters),"
                + " \(shape.batch) × \(shape.sequenceLength) tokens per step, fp32, AdamW, \(threads) threads",
            "Machine: \(TrainingBenchmark.machine). Median of \(steps) steps after \(warmup) warm-up steps;"
                + " sgemm: median of \(sgemmRates.count) products sampled before and after the runs.",
            "Model FLOP per step = \(shape.formula) = \(String(format: "%.3e", shape.flopsPerStep))",
            "",
            "| implementation | tokens/s | step s | model GFLOP/s | % of sgemm | peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        func row(_ name: String, tokensPerSecond: Double, stepSeconds: Double, peak: Int) -> String {
            let flops = shape.gigaflops(stepSeconds: stepSeconds)
            return "| \(name) | \(fixed(tokensPerSecond, 1)) | \(fixed(stepSeconds, 3)) | \(fixed(flops, 1)) | \(fixed(100 * flops / sgemm, 1)) | \(peak / 1_048_576) |"
        }
        lines.append(row("Tessera, 1 rank × \(threads) BLAS threads", tokensPerSecond: tessera.tokensPerSecond,
                         stepSeconds: tessera.medianStepSeconds, peak: tesseraPeakBytes))
        if let data = dataParallel {
            let perRank = threads / data.dp
            lines.append(row("Tessera, dp=\(data.dp) × \(perRank) BLAS thread\(perRank == 1 ? "" : "s")",
                             tokensPerSecond: data.run.tokensPerSecond, stepSeconds: data.run.medianStepSeconds, peak: data.peakBytes))
        }
        if let peer {
            lines.append(row(peer.name, tokensPerSecond: peer.tokensPerSecond, stepSeconds: peer.stepSeconds, peak: peer.peakBytes))
        }
        lines += ["| cblas_sgemm \(m)×\(n)×\(k) (limit) | | | \(fixed(sgemm, 1)) | 100.0 | |", ""]
        if let peer {
            lines.append("Tessera / PyTorch tokens/s: 1 rank \(fixed(tessera.tokensPerSecond / peer.tokensPerSecond, 2))×"
                         + (dataParallel.map { ", dp=\($0.dp) \(fixed($0.run.tokensPerSecond / peer.tokensPerSecond, 2))×" } ?? "")
                         + "; best on these \(threads) cores \(fixed(bestTokensPerSecond / peer.tokensPerSecond, 2))× (target ≥ 1.2×)")
        }
        let tesseraFlops = shape.gigaflops(stepSeconds: tessera.medianStepSeconds)
        lines.append("Tessera model FLOP/s / sgemm: \(fixed(100 * tesseraFlops / sgemm, 1))% at 1 rank"
                     + (dataParallel.map { ", \(fixed(100 * shape.gigaflops(stepSeconds: $0.run.medianStepSeconds) / sgemm, 1))% at dp=\($0.dp)" } ?? "")
                     + " (target ≥ 80%)")
        if let dataParallel {
            lines.append("dp=\(dataParallel.dp) losses equal to the 1-rank run's within 1e-4 relative: \(dataParallel.lossesEqual ? "yes" : "NO")")
        }
        return lines
    }

    /// The JSON `tessera bench train --json` writes (snake_case keys; `pytorch` is the peer's own summary).
    public var json: [String: Any] {
        let model = shape.config, sgemm = self.sgemm
        let tesseraFlops = shape.gigaflops(stepSeconds: tessera.medianStepSeconds)
        var object: [String: Any] = [
            "benchmark": "train", "machine": TrainingBenchmark.machine, "config": configName, "layers": model.layers,
            "parameters": model.parameterCount, "batch": shape.batch, "seq_len": shape.sequenceLength, "threads": threads,
            "warmup_steps": warmup, "timed_steps": steps, "flops_per_step": shape.flopsPerStep, "flops_formula": shape.formula,
            "sgemm": ["m": sgemmShape.m, "n": sgemmShape.n, "k": sgemmShape.k, "gflops": sgemm, "samples_gflops": sgemmRates],
            "tessera": ["step_seconds": tessera.stepSeconds, "median_step_seconds": tessera.medianStepSeconds,
                        "tokens_per_second": tessera.tokensPerSecond, "model_gflops": tesseraFlops,
                        "fraction_of_sgemm": tesseraFlops / sgemm, "peak_resident_bytes": tesseraPeakBytes, "losses": tessera.losses],
        ]
        if let data = dataParallel {
            object["tessera_data_parallel"] = [
                "dp": data.dp, "blas_threads_per_rank": threads / data.dp, "step_seconds": data.run.stepSeconds,
                "median_step_seconds": data.run.medianStepSeconds, "tokens_per_second": data.run.tokensPerSecond,
                "model_gflops": shape.gigaflops(stepSeconds: data.run.medianStepSeconds), "peak_resident_bytes": data.peakBytes,
                "losses": data.run.losses, "losses_equal_to_one_rank": data.lossesEqual]
        }
        if let peer {
            object["pytorch"] = peer.json
            object["ratio_tokens_per_second"] = tessera.tokensPerSecond / peer.tokensPerSecond
            object["best_ratio_tokens_per_second"] = bestTokensPerSecond / peer.tokensPerSecond
        }
        return object
    }
}
