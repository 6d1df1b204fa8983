import Foundation
import TesseraModels
import TesseraParallel

/// `tessera bench cp`: context parallelism on the cores of one machine: for each sequence length, cp = 1 using every
/// core through BLAS against cp = N thread ranks of one BLAS thread each, with each context-parallel attention;
/// tokens/s, the time rank 0 spends in communication (the ring's exposed transfers and the gradient reduction) and
/// the activation bytes per rank.
public enum CPBench {
    /// One layout at one sequence length.
    public struct Row {
        public var sequenceLength: Int
        public var cp: Int
        /// `nil` for cp = 1.
        public var communication: ContextCommunication?
        public var run: TrainingBenchmark.Run

        /// Seconds per step rank 0 spent inside communication (median).
        public var communicationSeconds: Double { BenchStatistics.median(run.communicationSeconds) }
        /// The most activation bytes any rank held in the last step.
        public var activationBytes: Int { run.metrics.last?.memory?.map(\.activationBytes).max() ?? 0 }
        var layout: String { cp == 1 ? "cp=1" : "cp=\(cp) \(communication!)" }
    }

    /// The settings and rows of one run; ``lines`` is its table, ``json`` its JSON.
    public struct Result {
        public var configName: String
        public var batch: Int, cp: Int, warmup: Int, steps: Int
        public var rows: [Row]
        /// Attentions left out because Ulysses cannot split the model's heads over cp.
        public var skipped: [String]
    }

    /// The model `config` with a context of at least `length` tokens (the same weights' shapes: only positions grow).
    static func config(_ config: TransformerConfig, length: Int) -> TransformerConfig {
        var config = config
        config.contextLength = max(config.contextLength, length)
        return config
    }

    /// Trains `batch` sequences of each length on cp = 1 with `cp` BLAS threads, then on `cp` thread ranks of one BLAS
    /// thread each with every attention in `communications` (Ulysses only where the heads split).
    public static func measure(_ model: TransformerConfig, configName: String, sequenceLengths: [Int], cp: Int,
                               communications: [ContextCommunication], batch: Int, warmup: Int, steps: Int,
                               progress: @escaping @Sendable (String) -> Void) throws -> Result {
        var rows: [Row] = [], skipped: [String] = []
        for length in sequenceLengths {
            let shape = TrainingBenchmark.Shape(config: config(model, length: length), batch: batch, sequenceLength: length)
            progress("T=\(length): cp=1 with \(cp) BLAS threads…")
            rows.append(Row(sequenceLength: length, cp: 1, communication: nil,
                            run: try TrainingBenchmark.measure(shape, parallel: ParallelConfig(microBatchSize: batch), blasThreads: cp,
                                                               warmup: warmup, steps: steps, progress: progress)))
            for communication in communications {
                var parallel = try ParallelConfig(cp: cp, microBatchSize: batch)
                parallel.contextCommunication = communication
                do { try parallel.validateContextParallel(model: shape.config) } catch {
                    skipped.append("\(communication): \(error)")
                    continue
                }
                progress("T=\(length): cp=\(cp) \(communication), \(cp) threads × 1 BLAS thread…")
                rows.append(Row(sequenceLength: length, cp: cp, communication: communication,
                                run: try TrainingBenchmark.measure(shape, parallel: parallel, blasThreads: 1, warmup: warmup, steps: steps,
                                                                   progress: progress)))
            }
        }
        return Result(configName: configName, batch: batch, cp: cp, warmup: warmup, steps: steps, rows: rows, skipped: Array(Set(skipped)).sorted())
    }
}

extension CPBench.Result {
    /// The cp = 1 row of `length`.
    private func single(_ length: Int) -> CPBench.Row? { rows.first { $0.sequenceLength == length && $0.cp == 1 } }

    /// The table `tessera bench cp` prints.
    public var lines: [String] {
        let fixed = BenchText.fixed
        var lines = [
            "Context parallelism on one machine: \(configName), \(batch) sequence(s) per step, fp32, AdamW; threads backend",
            "Machine: \(TrainingBenchmark.machine). Median of \(steps) steps after \(warmup) warm-up steps.",
            "",
            "| T | layout | ranks × BLAS threads | tokens/s | vs cp=1 | step s | communication s/step | activations/rank MiB | vs cp=1 | losses equal |",
            "|---:|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for row in rows {
            let reference = single(row.sequenceLength)!
            let threads = row.cp == 1 ? "1 × \(cp)" : "\(cp) × 1"
            lines.append("| \(row.sequenceLength) | \(row.layout) | \(threads) | \(fixed(row.run.tokensPerSecond, 1))"
                + " | \(fixed(100 * row.run.tokensPerSecond / reference.run.tokensPerSecond, 1))% | \(fixed(row.run.medianStepSeconds, 3))"
                + " | \(fixed(row.communicationSeconds, 3)) | \(fixed(Double(row.activationBytes) / 1_048_576, 2))"
                + " | \(fixed(Double(row.activationBytes) / Double(max(1, reference.activationBytes)), 3))"
                + " | \(row.run.lossesMatch(reference.run) ? "yes" : "NO") |")
        }
        lines += skipped.map { "skipped \($0)" }
        lines.append("Communication: the time rank 0 spends inside collectives and waiting on the ring's transfers (exposed, not overlapped).")
        return lines
    }

    /// The JSON `tessera bench cp --json` writes.
    public var json: [String: Any] {
        [
            "benchmark": "cp", "machine": TrainingBenchmark.machine, "config": configName, "batch": batch, "cp": cp,
            "warmup_steps": warmup, "timed_steps": steps, "skipped": skipped,
            "rows": rows.map { row -> [String: Any] in
                ["seq_len": row.sequenceLength, "cp": row.cp, "communication": row.communication?.rawValue ?? "none",
                 "step_seconds": row.run.stepSeconds, "tokens_per_second": row.run.tokensPerSecond,
                 "communication_seconds": row.run.communicationSeconds, "activation_bytes_per_rank": row.activationBytes,
                 "losses": row.run.losses]
            },
        ]
    }
}
