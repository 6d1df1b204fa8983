import ArgumentParser
import Foundation
import TesseraModels
import TesseraTensor

/// `tessera bench tp`: tensor parallelism on the cores of one machine: tp ranks as threads, one BLAS thread
/// each, against one rank using every core through BLAS, on the same training shape.
struct BenchTP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tp",
        abstract: "tp=N on N cores (threads backend, one BLAS thread per rank) against tp=1 with N BLAS threads.")

    @OptionGroup var shape: BenchShapeOptions

    @Option(help: "Tensor-parallel ranks (and cores).")
    var tp = 2

    @Flag(name: .customLong("sequence-parallel"), help: "Also split norms and residuals over the sequence.")
    var sequenceParallel = false


    func run() throws {
        let (config, layers, batch, sequenceLength, warmup, steps, json) =
            (shape.config, shape.layers, shape.batch, shape.sequenceLength, shape.warmup, shape.steps, shape.json)
        let shape = try self.shape.shape()
        let model = shape.config
        try model.validate(tp: tp)
        let log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

        log("tp=1 with \(tp) BLAS threads: \(warmup) warm-up + \(steps) timed steps…")
        let single = try TrainingBenchmark.measure(shape, blasThreads: tp, warmup: warmup, steps: steps, progress: log)
        log("tp=\(tp)\(sequenceParallel ? " with sequence parallelism" : ""), \(tp) threads × 1 BLAS thread…")
        let split = try TrainingBenchmark.measure(shape, tp: tp, sequenceParallel: sequenceParallel, blasThreads: 1,
                                                  warmup: warmup, steps: steps, progress: log)
        let ratio = split.tokensPerSecond / single.tokensPerSecond
        let communication = TrainingBenchmark.median(split.communicationSeconds)

        print("Tensor parallelism on one machine: \(config)\(layers.map { " (\($0) layers)" } ?? "") (\(model.parameterCount) parameters),"
              + " \(batch) × \(sequenceLength) tokens per step, fp32, AdamW; threads backend")
        print("Machine: \(TrainingBenchmark.machine). Median of \(steps) steps after \(warmup) warm-up steps.")
        print("")
        print("| layout | ranks × BLAS threads | tokens/s | step s | communication s/step | losses equal |")
        print("|---|---|---:|---:|---:|---|")
        print("| tp=1 | 1 × \(tp) | \(TrainingBenchmark.fixed(single.tokensPerSecond, 1)) | \(TrainingBenchmark.fixed(single.medianStepSeconds, 3)) | 0 | |")
        let equal = split.lossesMatch(single)
        print("| tp=\(tp)\(sequenceParallel ? " + sp" : "") | \(tp) × 1 | \(TrainingBenchmark.fixed(split.tokensPerSecond, 1)) | \(TrainingBenchmark.fixed(split.medianStepSeconds, 3))"
              + " | \(TrainingBenchmark.fixed(communication, 3)) | \(equal ? "yes" : "NO") |")
        print("")
        print("tp=\(tp) / tp=1 tokens/s: \(TrainingBenchmark.fixed(100 * ratio, 1))% (target ≥ 90%); communication \(TrainingBenchmark.fixed(100 * communication / split.medianStepSeconds, 1))% of the step"
              + " (time rank 0 spends inside collectives, including waiting for its peer)")

        if let json {
            try TrainingBenchmark.writeJSON([
                "benchmark": "tp", "machine": TrainingBenchmark.machine, "config": config, "layers": model.layers,
                "parameters": model.parameterCount, "batch": batch, "seq_len": sequenceLength, "tp": tp,
                "sequence_parallel": sequenceParallel, "warmup_steps": warmup, "timed_steps": steps,
                "tp1": ["blas_threads": tp, "step_seconds": single.stepSeconds, "tokens_per_second": single.tokensPerSecond,
                        "losses": single.losses],
                "tpN": ["blas_threads_per_rank": 1, "step_seconds": split.stepSeconds, "tokens_per_second": split.tokensPerSecond,
                        "communication_seconds": split.communicationSeconds, "median_communication_seconds": communication,
                        "losses": split.losses],
                "ratio": ratio, "losses_equal": equal,
            ], to: json)
        }
    }
}
