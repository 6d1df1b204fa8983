import Foundation
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTensor
import TesseraTrain

/// Measurements shared by `tessera bench train` and `tessera bench tp`: timed training steps through the real
/// ``Trainer``, the `cblas_sgemm` rate of the same machine, the model's FLOP count and peak memory.
public enum TrainingBenchmark {
    /// Timed steps of one run.
    public struct Run: Sendable {
        /// Seconds of each timed step (after warm-up), as rank 0 saw them.
        public var stepSeconds: [Double]
        /// Seconds rank 0 spent in collectives during each timed step.
        public var communicationSeconds: [Double]
        public var losses: [Double]
        public var tokensPerStep: Int
        /// Rank 0's figures of each timed step (reduction wait, per-rank memory).
        public var metrics: [StepMetrics] = []
        /// Seconds rank 0 spent in each kind of process group's collectives (by the label of ``ProcessGroups``' names: "dp",
        /// "ep", "tp", …) during each timed step.
        public var groupSeconds: [[String: Double]] = []
        /// The part of ``groupSeconds`` rank 0 spent waiting for a peer to arrive (``PeerWait``), per timed step.
        public var groupWaitSeconds: [[String: Double]] = []
        /// Each rank's median seconds per timed step outside its blocking collectives and the starts of its non-blocking
        /// ones (its own work, waits on requests included), `[ranks]`.
        public var rankComputeSeconds: [Double] = []
        /// Each rank's median seconds per timed step spent waiting for a later peer in any group (``PeerWait``), `[ranks]`.
        public var rankWaitSeconds: [Double] = []

        public init(stepSeconds: [Double], communicationSeconds: [Double], losses: [Double], tokensPerStep: Int,
                    metrics: [StepMetrics] = []) {
            (self.stepSeconds, self.communicationSeconds, self.losses) = (stepSeconds, communicationSeconds, losses)
            (self.tokensPerStep, self.metrics) = (tokensPerStep, metrics)
        }

        public var medianStepSeconds: Double { BenchStatistics.median(stepSeconds) }
        public var tokensPerSecond: Double { Double(tokensPerStep) / medianStepSeconds }

        /// Whether every step's loss equals `reference`'s within 1e-4 relative: the same model, data and optimizer
        /// on another layout, where only the order of cross-rank sums differs.
        public func lossesMatch(_ reference: Run) -> Bool {
            zip(losses, reference.losses).allSatisfy { abs($0 - $1) <= 1e-4 * abs($1) }
        }
    }

    /// The shape being trained.
    public struct Shape: Sendable {
        public var config: TransformerConfig
        public var batch: Int
        public var sequenceLength: Int

        public init(config: TransformerConfig, batch: Int, sequenceLength: Int) {
            (self.config, self.batch, self.sequenceLength) = (config, batch, sequenceLength)
        }

        public var tokensPerStep: Int { batch * sequenceLength }

        /// Model FLOPs of one training step: `tokens · (6·N + 12·L·h·T)`: forward and backward of every weight
        /// product (6 FLOPs per parameter per token; Kaplan et al. 2020) plus attention's scores and weighted sums
        /// (12·L·h·T per token; Narayanan et al. 2021), counting the full, not causally halved, T×T products.
        /// N counts tied embeddings once: the LM head's product is real work, the lookup is not.
        public var flopsPerStep: Double {
            let n = Double(config.parameterCount), l = Double(config.layers), h = Double(config.hiddenSize)
            return Double(tokensPerStep) * (6 * n + 12 * l * h * Double(sequenceLength))
        }

        /// Model GFLOP/s of a step that took `stepSeconds`.
        public func gigaflops(stepSeconds: Double) -> Double { flopsPerStep / stepSeconds / 1e9 }

        public var formula: String { "tokens × (6·N + 12·L·h·T) with N = \(config.parameterCount), L = \(config.layers), h = \(config.hiddenSize), T = \(sequenceLength)" }
    }

    /// Trains `shape` for `warmup + steps` steps on `ranks` threads with tensor parallelism `tp` and `blasThreads`
    /// OpenBLAS threads per process (and compute-pool threads per rank), on deterministic pseudo-random tokens.
    public static func measure(_ shape: Shape, tp: Int = 1, sequenceParallel: Bool = false, blasThreads: Int, warmup: Int, steps: Int,
                        progress: @escaping @Sendable (String) -> Void) throws -> Run {
        try measure(shape, parallel: ParallelConfig(tp: tp, sequenceParallel: sequenceParallel, microBatchSize: shape.batch),
                    blasThreads: blasThreads, warmup: warmup, steps: steps, progress: progress)
    }

    /// Trains `shape` on the `parallel.ranks` thread ranks of any layout (dp × pp × tp, memory options).
    public static func measure(_ shape: Shape, parallel: ParallelConfig, blasThreads: Int, warmup: Int, steps: Int,
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
        let runs = try ThreadGroup.run(ranks: parallel.ranks) { world -> (Run, [CommunicationMeter.Call], [Range<UInt64>]) in
            let meter = CommunicationMeter(logsCalls: true)
            let engine = try Trainer.makeEngine(configuration: configuration, config: config,
                                                world: MeteredCommunicator(world, meter: meter), computeThreads: blasThreads)
            let trainer = try Trainer(configuration: configuration, engine: engine, data: data)
            var run = Run(stepSeconds: [], communicationSeconds: [], losses: [], tokensPerStep: shape.tokensPerStep)
            var windows: [Range<UInt64>] = []
            for step in 1...(warmup + steps) {
                let before = meter.seconds, beforeByGroup = meter.byGroup, start = DispatchTime.now().uptimeNanoseconds
                let metrics = try trainer.step(step)
                let end = DispatchTime.now().uptimeNanoseconds
                if world.rank == 0 {
                    progress("  step \(step)\(step <= warmup ? " (warm-up)" : ""): \(String(format: "%.3f", metrics.stepSeconds)) s, loss \(String(format: "%.4f", metrics.loss))")
                }
                guard step > warmup else { continue }
                windows.append(start..<end)
                run.stepSeconds.append(metrics.stepSeconds)
                run.communicationSeconds.append(meter.seconds - before)
                var seconds: [String: Double] = [:]
                for (group, totals) in meter.byGroup {
                    seconds[PeerWait.label(group), default: 0] += totals.seconds - (beforeByGroup[group]?.seconds ?? 0)
                }
                run.groupSeconds.append(seconds)
                run.losses.append(metrics.loss)
                run.metrics.append(metrics)
            }
            return (run, meter.calls, windows)
        }
        var run = runs[0].0
        let logs = runs.map { $0.1 }
        run.groupWaitSeconds = runs[0].2.map { PeerWait.seconds(of: 0, logs: logs, window: $0) }
        run.rankComputeSeconds = runs.indices.map { rank in
            BenchStatistics.median(runs[rank].2.map { window in
                logs[rank].filter { window.contains($0.start) }.reduce(Double(window.upperBound - window.lowerBound)) { $0 - Double($1.end - $1.start) } / 1e9
            })
        }
        run.rankWaitSeconds = runs.indices.map { rank in
            BenchStatistics.median(runs[rank].2.map { PeerWait.seconds(of: rank, logs: logs, window: $0).values.reduce(0, +) })
        }
        return run
    }

    /// `cblas_sgemm` GFLOP/s of each of `repeats` products `[m, k] × [k, n]` (after one warm-up) with `threads`
    /// OpenBLAS threads. Benchmarks sample it before and after their own runs and report the median of both.
    public static func sgemmSamples(m: Int, n: Int, k: Int, threads: Int, repeats: Int = 7) -> [Double] {
        BLASThreads.set(threads)
        return MatmulRate.samples(m: m, n: n, k: k, repeats: repeats).map { $0 / 1e9 }
    }

    /// The machine in one line (CPU model and the cores this process may use).
    public static var machine: String { MachineInfo.description(cores: ProcessInfo.processInfo.activeProcessorCount) }
}
