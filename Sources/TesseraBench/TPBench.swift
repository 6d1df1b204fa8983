import Foundation

/// `tessera bench tp`: tensor parallelism on the cores of one machine: tp ranks as threads, one BLAS thread
/// each, against one rank using every core through BLAS, on the same training shape.
public enum TPBench {
    /// The settings and figures of one run; ``lines`` is its table, ``json`` its JSON.
    public struct Result {
        public var configName: String
        public var layers: Int?
        public var shape: TrainingBenchmark.Shape
        public var tp: Int
        public var sequenceParallel: Bool
        public var warmup: Int
        public var steps: Int
        /// tp = 1 with `tp` BLAS threads, and tp = `tp` with one BLAS thread per rank.
        public var single: TrainingBenchmark.Run
        public var split: TrainingBenchmark.Run

        public init(configName: String, layers: Int?, shape: TrainingBenchmark.Shape, tp: Int, sequenceParallel: Bool,
                    warmup: Int, steps: Int, single: TrainingBenchmark.Run, split: TrainingBenchmark.Run) {
            (self.configName, self.layers, self.shape, self.tp, self.sequenceParallel) = (configName, layers, shape, tp, sequenceParallel)
            (self.warmup, self.steps, self.single, self.split) = (warmup, steps, single, split)
        }

        /// tp = `tp` tokens/s over tp = 1 tokens/s.
        public var ratio: Double { split.tokensPerSecond / single.tokensPerSecond }
        /// The median seconds rank 0 spent in collectives per step.
        public var communication: Double { BenchStatistics.median(split.communicationSeconds) }
    }

    /// Trains `shape` on tp = 1 with `tp` BLAS threads, then on `tp` thread ranks of one BLAS thread each.
    public static func measure(_ shape: TrainingBenchmark.Shape, configName: String, layers: Int?, tp: Int, sequenceParallel: Bool,
                               warmup: Int, steps: Int, progress: @escaping @Sendable (String) -> Void) throws -> Result {
        progress("tp=1 with \(tp) BLAS threads: \(warmup) warm-up + \(steps) timed steps…")
        let single = try TrainingBenchmark.measure(shape, blasThreads: tp, warmup: warmup, steps: steps, progress: progress)
        progress("tp=\(tp)\(sequenceParallel ? " with sequence parallelism" : ""), \(tp) threads × 1 BLAS thread…")
        let split = try TrainingBenchmark.measure(shape, tp: tp, sequenceParallel: sequenceParallel, blasThreads: 1,
                                                  warmup: warmup, steps: steps, progress: progress)
        return Result(configName: configName, layers: layers, shape: shape, tp: tp, sequenceParallel: sequenceParallel,
                      warmup: warmup, steps: steps, single: single, split: split)
    }
}

extension TPBench.Result {
    /// The table `tessera bench tp` prints.
    public var lines: [String] {
        let fixed = BenchText.fixed, model = shape.config
        return [
            "Tensor parallelism on one machine: \(configName)\(layers.map { " (\($0) layers)" } ?? "") (\(model.parameterCount) parameters),"
                + " \(shape.batch) × \(shape.sequenceLength) tokens per step, fp32, AdamW; threads backend",
            "Machine: \(TrainingBenchmark.machine). Median of \(steps) steps after \(warmup) warm-up steps.",
            "",
            "| layout | ranks × BLAS threads | tokens/s | step s | communication s/step | losses equal |",
            "|---|---|---:|---:|---:|---|",
            "| tp=1 | 1 × \(tp) | \(fixed(single.tokensPerSecond, 1)) | \(fixed(single.medianStepSeconds, 3)) | 0 | |",
            "| tp=\(tp)\(sequenceParallel ? " + sp" : "") | \(tp) × 1 | \(fixed(split.tokensPerSecond, 1)) | \(fixed(split.medianStepSeconds, 3))"
                + " | \(fixed(communication, 3)) | \(split.lossesMatch(single) ? "yes" : "NO") |",
            "",
            "tp=\(tp) / tp=1 tokens/s: \(fixed(100 * ratio, 1))% (target ≥ 90%); communication \(fixed(100 * communication / split.medianStepSeconds, 1))% of the step"
                + " (time rank 0 spends inside collectives, including waiting for its peer)",
        ]
    }

    /// The JSON `tessera bench tp --json` writes.
    public var json: [String: Any] {
        [
            "benchmark": "tp", "machine": TrainingBenchmark.machine, "config": configName, "layers": shape.config.layers,
            "parameters": shape.config.parameterCount, "batch": shape.batch, "seq_len": shape.sequenceLength, "tp": tp,
            "sequence_parallel": sequenceParallel, "warmup_steps": warmup, "timed_steps": steps,
            "tp1": ["blas_threads": tp, "step_seconds": single.stepSeconds, "tokens_per_second": single.tokensPerSecond,
                    "losses": single.losses],
            "tpN": ["blas_threads_per_rank": 1, "step_seconds": split.stepSeconds, "tokens_per_second": split.tokensPerSecond,
                    "communication_seconds": split.communicationSeconds, "median_communication_seconds": communication,
                    "losses": split.losses],
            "ratio": ratio, "losses_equal": split.lossesMatch(single),
        ]
    }
}
