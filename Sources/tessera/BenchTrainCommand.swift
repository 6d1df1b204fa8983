import ArgumentParser
import Foundation
import TesseraModels
import TesseraParallel

/// `tessera bench train`: Tessera's training throughput against PyTorch's on the same shape and thread count, and
/// against the machine's `cblas_sgemm` rate, in one run. Tessera runs twice on the same cores: one rank whose
/// OpenBLAS uses every thread (PyTorch's layout), and data parallelism over thread ranks of one BLAS thread each
/// (the same global batch; its losses are checked against the one-rank run).
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training throughput against PyTorch and against cblas_sgemm (GPT-2 small, 4 × 256 tokens, fp32, AdamW).")

    @OptionGroup var shape: BenchShapeOptions

    @Option(help: "Threads for both sides (OpenBLAS for Tessera, torch.set_num_threads for PyTorch).")
    var threads = 2

    @Option(help: "Python interpreter for the PyTorch peer.")
    var python = "python3"

    @Option(name: .customLong("peer-script"), help: "The PyTorch peer.")
    var peerScript = "scripts/bench_pytorch_train.py"

    @Flag(name: .customLong("no-peer"), help: "Skip the PyTorch peer.")
    var noPeer = false

    @Option(help: "Also run Tessera data-parallel on the same cores: this many thread ranks × threads/dp BLAS threads each (1 skips it).")
    var dp = 2

    func run() throws {
        let (config, layers, batch, sequenceLength, warmup, steps, json) =
            (shape.config, shape.layers, shape.batch, shape.sequenceLength, shape.warmup, shape.steps, shape.json)
        let shape = try self.shape.shape()
        let model = shape.config
        guard dp >= 1, threads % dp == 0, batch % dp == 0 else {
            throw ValidationError("--dp \(dp) must divide both --threads \(threads) and --batch \(batch) (each rank gets threads/dp BLAS threads and batch/dp sequences); use --dp 1 to skip the data-parallel run")
        }
        let log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

        // The limit: the dominant product of the step (the MLP's up projection over all tokens of the step).
        let m = shape.tokensPerStep, n = model.mlp.intermediateSize, k = model.hiddenSize
        log("measuring cblas_sgemm \(m)×\(n)×\(k) on \(threads) threads…")
        var sgemmRates = TrainingBenchmark.sgemmSamples(m: m, n: n, k: k, threads: threads)
        log("Tessera: \(warmup) warm-up + \(steps) timed steps…")
        let tessera = try TrainingBenchmark.measure(shape, blasThreads: threads, warmup: warmup, steps: steps, progress: log)
        let tesseraPeak = TrainingBenchmark.peakResidentBytes()
        var dataParallel: (run: TrainingBenchmark.Run, peak: Int, lossesEqual: Bool)?
        if dp > 1 {
            log("Tessera dp=\(dp): \(dp) thread ranks × \(threads / dp) BLAS thread\(threads / dp == 1 ? "" : "s"), micro-batch \(batch / dp)…")
            TrainingBenchmark.resetPeakResident()
            let layout = try ParallelConfig(dp: dp, microBatchSize: batch / dp)
            let run = try TrainingBenchmark.measure(shape, parallel: layout, blasThreads: threads / dp, warmup: warmup, steps: steps, progress: log)
            dataParallel = (run, TrainingBenchmark.peakResidentBytes(), run.lossesMatch(tessera))
        }
        let peer = noPeer ? nil : try runPeer(log: log)
        // Sampled before and after both runs, so a machine that got busier or quieter meanwhile shows in the limit too.
        sgemmRates += TrainingBenchmark.sgemmSamples(m: m, n: n, k: k, threads: threads)
        let sgemm = TrainingBenchmark.median(sgemmRates)

        let tesseraFlops = shape.gigaflops(stepSeconds: tessera.medianStepSeconds)
        let best = max(tessera.tokensPerSecond, dataParallel?.run.tokensPerSecond ?? 0)
        print("Training throughput: \(config)\(layers.map { " (\($0) layers)" } ?? "") (\(model.parameterCount) parameters),"
              + " \(batch) × \(sequenceLength) tokens per step, fp32, AdamW, \(threads) threads")
        print("Machine: \(TrainingBenchmark.machine). Median of \(steps) steps after \(warmup) warm-up steps;"
              + " sgemm: median of \(sgemmRates.count) products sampled before and after the runs.")
        print("Model FLOP per step = \(shape.formula) = \(String(format: "%.3e", shape.flopsPerStep))")
        print("")
        print("| implementation | tokens/s | step s | model GFLOP/s | % of sgemm | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|")
        func row(_ name: String, tokensPerSecond: Double, stepSeconds: Double, peak: Int) {
            let flops = shape.gigaflops(stepSeconds: stepSeconds)
            print("| \(name) | \(TrainingBenchmark.fixed(tokensPerSecond, 1)) | \(TrainingBenchmark.fixed(stepSeconds, 3)) | \(TrainingBenchmark.fixed(flops, 1)) | \(TrainingBenchmark.fixed(100 * flops / sgemm, 1)) | \(peak / 1_048_576) |")
        }
        row("Tessera, 1 rank × \(threads) BLAS threads", tokensPerSecond: tessera.tokensPerSecond, stepSeconds: tessera.medianStepSeconds, peak: tesseraPeak)
        if let (run, peak, _) = dataParallel {
            row("Tessera, dp=\(dp) × \(threads / dp) BLAS thread\(threads / dp == 1 ? "" : "s")", tokensPerSecond: run.tokensPerSecond,
                stepSeconds: run.medianStepSeconds, peak: peak)
        }
        if let peer {
            row(peer.name, tokensPerSecond: peer.tokensPerSecond, stepSeconds: peer.stepSeconds, peak: peer.peakBytes)
        }
        print("| cblas_sgemm \(m)×\(n)×\(k) (limit) | | | \(TrainingBenchmark.fixed(sgemm, 1)) | 100.0 | |")
        print("")
        if let peer {
            print("Tessera / PyTorch tokens/s: 1 rank \(TrainingBenchmark.fixed(tessera.tokensPerSecond / peer.tokensPerSecond, 2))×"
                  + (dataParallel.map { ", dp=\(dp) \(TrainingBenchmark.fixed($0.run.tokensPerSecond / peer.tokensPerSecond, 2))×" } ?? "")
                  + "; best on these \(threads) cores \(TrainingBenchmark.fixed(best / peer.tokensPerSecond, 2))× (target ≥ 1.2×)")
        }
        print("Tessera model FLOP/s / sgemm: \(TrainingBenchmark.fixed(100 * tesseraFlops / sgemm, 1))% at 1 rank"
              + (dataParallel.map { ", \(TrainingBenchmark.fixed(100 * shape.gigaflops(stepSeconds: $0.run.medianStepSeconds) / sgemm, 1))% at dp=\(dp)" } ?? "")
              + " (target ≥ 80%)")
        if let dataParallel {
            print("dp=\(dp) losses equal to the 1-rank run's within 1e-4 relative: \(dataParallel.lossesEqual ? "yes" : "NO")")
        }

        if let json {
            var object: [String: Any] = [
                "benchmark": "train", "machine": TrainingBenchmark.machine, "config": config, "layers": model.layers,
                "parameters": model.parameterCount, "batch": batch, "seq_len": sequenceLength, "threads": threads,
                "warmup_steps": warmup, "timed_steps": steps, "flops_per_step": shape.flopsPerStep, "flops_formula": shape.formula,
                "sgemm": ["m": m, "n": n, "k": k, "gflops": sgemm, "samples_gflops": sgemmRates],
                "tessera": ["step_seconds": tessera.stepSeconds, "median_step_seconds": tessera.medianStepSeconds,
                            "tokens_per_second": tessera.tokensPerSecond, "model_gflops": tesseraFlops,
                            "fraction_of_sgemm": tesseraFlops / sgemm, "peak_resident_bytes": tesseraPeak, "losses": tessera.losses],
            ]
            if let (run, peak, equal) = dataParallel {
                object["tessera_data_parallel"] = [
                    "dp": dp, "blas_threads_per_rank": threads / dp, "step_seconds": run.stepSeconds,
                    "median_step_seconds": run.medianStepSeconds, "tokens_per_second": run.tokensPerSecond,
                    "model_gflops": shape.gigaflops(stepSeconds: run.medianStepSeconds), "peak_resident_bytes": peak,
                    "losses": run.losses, "losses_equal_to_one_rank": equal]
            }
            if let peer {
                object["pytorch"] = peer.json
                object["ratio_tokens_per_second"] = tessera.tokensPerSecond / peer.tokensPerSecond
                object["best_ratio_tokens_per_second"] = best / peer.tokensPerSecond
            }
            try TrainingBenchmark.writeJSON(object, to: json)
        }
    }

    /// The PyTorch peer's figures.
    struct Peer {
        var name: String
        var tokensPerSecond: Double
        var stepSeconds: Double
        var peakBytes: Int
        var json: [String: Any]
    }

    /// Runs the peer script in its own process (its memory is its own) and reads its JSON summary line.
    func runPeer(log: (String) -> Void) throws -> Peer {
        guard FileManager.default.fileExists(atPath: peerScript) else {
            throw ValidationError("\(peerScript): the PyTorch peer script is missing; run from the repository root, pass --peer-script PATH, or use --no-peer")
        }
        log("PyTorch: \(shape.warmup) warm-up + \(shape.steps) timed steps…")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, peerScript, "--threads", "\(threads)", "--batch", "\(shape.batch)", "--seq-len", "\(shape.sequenceLength)",
                             "--warmup", "\(shape.warmup)", "--steps", "\(shape.steps)", "--layers", "\(shape.layers ?? 12)"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let lastLine = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard process.terminationStatus == 0,
              let object = try? JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: Any],
              let rate = object["tokens_per_second"] as? Double, let step = object["median_step_seconds"] as? Double
        else {
            throw ValidationError("the PyTorch peer (\(python) \(peerScript)) failed with status \(process.terminationStatus);"
                                  + " install torch and transformers (pip install torch transformers) or use --no-peer")
        }
        let name = (object["implementation"] as? String)?.components(separatedBy: " +").first ?? "PyTorch"
        return Peer(name: name, tokensPerSecond: rate, stepSeconds: step, peakBytes: object["peak_resident_bytes"] as? Int ?? 0,
                    json: object)
    }
}
