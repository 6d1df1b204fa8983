import ArgumentParser
import Foundation
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTensor
import TesseraTrain
import TesseraFiles

/// The shape and repetitions `tessera bench train` and `tessera bench tp` share.
struct BenchShapeOptions: ParsableArguments {
    @Option(help: "Model preset or config.json.")
    var config = "gpt2-small"

    @Option(help: "Use only this many layers (a quick smoke run; a peer gets the same).")
    var layers: Int?

    @Option(help: "Sequences per step.")
    var batch = 4

    @Option(name: .customLong("seq-len"), help: "Tokens per sequence.")
    var sequenceLength = 256

    @Option(help: "Untimed warm-up steps.")
    var warmup = 2

    @Option(help: "Timed steps (the median is reported).")
    var steps = 5

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func shape() throws -> TrainingBenchmark.Shape {
        var model = try TransformerConfig.named(config)
        if let layers { model.layers = layers }
        return TrainingBenchmark.Shape(config: model, batch: batch, sequenceLength: sequenceLength)
    }
}

/// Measurements shared by `tessera bench train` and `tessera bench tp`: timed training steps through the real
/// ``Trainer``, the `cblas_sgemm` rate of the same machine, the model's FLOP count and peak memory.
enum TrainingBenchmark {
    /// Timed steps of one run.
    struct Run {
        /// Seconds of each timed step (after warm-up), as rank 0 saw them.
        var stepSeconds: [Double]
        /// Seconds rank 0 spent in collectives during each timed step.
        var communicationSeconds: [Double]
        var losses: [Double]
        var tokensPerStep: Int
        /// Rank 0's figures of each timed step (reduction wait, per-rank memory).
        var metrics: [StepMetrics] = []

        var medianStepSeconds: Double { median(stepSeconds) }
        var tokensPerSecond: Double { Double(tokensPerStep) / medianStepSeconds }

        /// Whether every step's loss equals `reference`'s within 1e-4 relative: the same model, data and optimizer
        /// on another layout, where only the order of cross-rank sums differs.
        func lossesMatch(_ reference: Run) -> Bool {
            zip(losses, reference.losses).allSatisfy { abs($0 - $1) <= 1e-4 * abs($1) }
        }
    }

    /// The shape being trained.
    struct Shape {
        var config: TransformerConfig
        var batch: Int
        var sequenceLength: Int

        var tokensPerStep: Int { batch * sequenceLength }

        /// Model FLOPs of one training step: `tokens · (6·N + 12·L·h·T)`: forward and backward of every weight
        /// product (6 FLOPs per parameter per token; Kaplan et al. 2020) plus attention's scores and weighted sums
        /// (12·L·h·T per token; Narayanan et al. 2021), counting the full, not causally halved, T×T products.
        /// N counts tied embeddings once: the LM head's product is real work, the lookup is not.
        var flopsPerStep: Double {
            let n = Double(config.parameterCount), l = Double(config.layers), h = Double(config.hiddenSize)
            return Double(tokensPerStep) * (6 * n + 12 * l * h * Double(sequenceLength))
        }

        /// Model GFLOP/s of a step that took `stepSeconds`.
        func gigaflops(stepSeconds: Double) -> Double { flopsPerStep / stepSeconds / 1e9 }

        var formula: String { "tokens × (6·N + 12·L·h·T) with N = \(config.parameterCount), L = \(config.layers), h = \(config.hiddenSize), T = \(sequenceLength)" }
    }

    /// Trains `shape` for `warmup + steps` steps on `ranks` threads with tensor parallelism `tp` and `blasThreads`
    /// OpenBLAS threads per process (and compute-pool threads per rank), on deterministic pseudo-random tokens.
    static func measure(_ shape: Shape, tp: Int = 1, sequenceParallel: Bool = false, blasThreads: Int, warmup: Int, steps: Int,
                        progress: @escaping @Sendable (String) -> Void) throws -> Run {
        try measure(shape, parallel: ParallelConfig(tp: tp, sequenceParallel: sequenceParallel, microBatchSize: shape.batch),
                    blasThreads: blasThreads, warmup: warmup, steps: steps, progress: progress)
    }

    /// Trains `shape` on the `parallel.ranks` thread ranks of any layout (dp × pp × tp, memory options).
    static func measure(_ shape: Shape, parallel: ParallelConfig, blasThreads: Int, warmup: Int, steps: Int,
                        progress: @escaping @Sendable (String) -> Void) throws -> Run {
        let configuration = TrainingConfiguration(
            model: .init(config: "bench"), data: .init(path: "random tokens", sequenceLength: shape.sequenceLength),
            batch: .init(globalBatchSize: shape.batch), optimizer: .init(learningRate: 1e-4, minLearningRate: 1e-4, schedule: .constant),
            parallelism: parallel, steps: warmup + steps, seed: 0)
        let random = DeterministicRandom(seed: 0, stream: "bench tokens")
        let vocabulary = UInt64(shape.config.vocabularySize)
        let ids = (0..<shape.tokensPerStep * (warmup + steps) + 1).map { Int32(random.bits(at: UInt64($0)) % vocabulary) }
        let data = try TrainingData(path: "random tokens", ids: ids, sequenceLength: shape.sequenceLength,
                                    globalBatchSize: shape.batch, vocabularySize: shape.config.vocabularySize, tokenizerName: "random")
        BLASThreads.set(blasThreads)
        let config = shape.config
        let runs = try ThreadGroup.run(ranks: parallel.ranks) { world -> Run in
            let meter = CommunicationMeter()
            let engine = try Trainer.makeEngine(configuration: configuration, config: config,
                                                world: MeteredCommunicator(world, meter: meter), computeThreads: blasThreads)
            let trainer = try Trainer(configuration: configuration, engine: engine, data: data)
            var run = Run(stepSeconds: [], communicationSeconds: [], losses: [], tokensPerStep: shape.tokensPerStep)
            for step in 1...(warmup + steps) {
                let before = meter.seconds
                let metrics = try trainer.step(step)
                if world.rank == 0 {
                    progress("  step \(step)\(step <= warmup ? " (warm-up)" : ""): \(String(format: "%.3f", metrics.stepSeconds)) s, loss \(String(format: "%.4f", metrics.loss))")
                }
                guard step > warmup else { continue }
                run.stepSeconds.append(metrics.stepSeconds)
                run.communicationSeconds.append(meter.seconds - before)
                run.losses.append(metrics.loss)
                run.metrics.append(metrics)
            }
            return run
        }
        return runs[0]
    }

    /// `cblas_sgemm` GFLOP/s of each of `repeats` products `[m, k] × [k, n]` (after one warm-up) with `threads`
    /// OpenBLAS threads. Benchmarks sample it before and after their own runs and report the median of both.
    static func sgemmSamples(m: Int, n: Int, k: Int, threads: Int, repeats: Int = 7) -> [Double] {
        BLASThreads.set(threads)
        return MatmulRate.samples(m: m, n: n, k: k, repeats: repeats).map { $0 / 1e9 }
    }

    /// Peak resident memory of this process (`VmHWM`), in bytes.
    static func peakResidentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return kilobytes * 1024
    }

    /// Resets this process's peak resident memory (`VmHWM`) to its current resident set, so the next run's peak is
    /// its own (Linux: writing 5 to `/proc/self/clear_refs`). Where that is refused, peaks stay cumulative.
    static func resetPeakResident() {
        let descriptor = open("/proc/self/clear_refs", O_WRONLY)
        guard descriptor >= 0 else { return }
        _ = write(descriptor, "5", 1)
        close(descriptor)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// `value` with `decimals` decimals.
    static func fixed(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }

    /// The machine in one line (CPU model and cores).
    static var machine: String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }

    /// Writes `object` as JSON to `path`.
    static func writeJSON(_ object: [String: Any], to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try AtomicWrite.write(Array(data), to: path)
    }
}
