import Foundation
import TesseraModels
import TesseraParallel

/// The whole-model rows of `tessera bench moe`: training steps of a mixture-of-experts preset (embedding, attention,
/// routers, experts, head and AdamW, through the real ``Trainer``) on one rank with every core against dp = ep =
/// cores ranks of one thread each, at the same global batch.
extension MoEBench {
    /// How a whole-model row runs its preset, beside the preset as it is (``learned``).
    public struct ModelVariant: Codable, Sendable, Hashable {
        /// The router forced to balance (``RouterConfiguration/forcesLoadBalance``): the expert-parallel cost without the
        /// router's imbalance, shown beside the learned router's row, never instead of it.
        public var forcesLoadBalance = false
        /// The shared expert overlapped with the all-to-all (``TransformerConfig/MixtureOfExperts/overlapsSharedExpert``).
        public var overlapsSharedExpert = true

        public static let learned = ModelVariant()
        public static let forcedBalance = ModelVariant(forcesLoadBalance: true)
        public static let sharedExpertNotOverlapped = ModelVariant(overlapsSharedExpert: false)

        var label: String {
            (forcesLoadBalance ? "router FORCED to balance (round-robin: steady-state load)" : "learned router (random init)")
                + (overlapsSharedExpert ? "" : ", shared expert NOT overlapped with the all-to-all")
        }
    }

    /// Both layouts of the same training job.
    public struct ModelComparison: Codable, Sendable {
        public var configName: String, batch: Int, sequenceLength: Int
        public var variant: ModelVariant
        /// Median whole-step figures over the rounds (``LayerSample/allToAllShare``: rank 0's seconds in the
        /// expert-parallel group's collectives, the dispatch and combine all-to-alls and their counts, waiting for the
        /// peer included, and ``LayerSample/allToAllWaitShare`` that waiting alone; no tokens per expert).
        public var single: LayerSample, parallel: LayerSample
        /// Median over the alternating rounds of expert-parallel tokens/s over ep = 1's.
        public var speedRatio: Double
        /// Each layout's losses of the first round's timed steps.
        public var singleLosses: [Double], parallelLosses: [Double]
        /// Whether both layouts' losses agree within 1e-4 relative in every round (the same job, only the order of
        /// sums differs).
        public var lossesMatch: Bool
        /// How evenly the expert-parallel ranks were loaded in the round of the median step.
        public var balance: RankBalance

        /// The comparison as table rows.
        public func table() -> String {
            return """
                whole-model training steps: \(configName), \(batch) sequences × \(sequenceLength) tokens per step, \(variant.label)
                layout                          tokens/s    step ms   all-to-all  of it waiting
                \(MoEBench.layoutRow(single))
                \(MoEBench.layoutRow(parallel))
                ep=\(parallel.ep) / ep=1 tokens/s (median of paired rounds): \(String(format: "%.3f", speedRatio)); \
                losses \(lossesMatch ? "match" : "DIFFER")
                \(balance.line)
                """
        }
    }

    /// Where an expert-parallel step's waiting comes from: each rank's own work and waiting per step, and the rows its
    /// experts computed in each MoE layer (forward; the backward repeats them at twice the work).
    public struct RankBalance: Codable, Sendable {
        public var computeMilliseconds: [Double], waitMilliseconds: [Double]
        /// `[layer][rank]`: the rows each rank's experts computed in the first timed step.
        public var expertRows: [[Int]]

        /// Σ over layers of the busiest rank's expert rows over Σ of the mean: 1 when every layer spreads its rows
        /// evenly over the ranks. Every layer's exchange waits for its busiest rank, so this bounds the experts' part of
        /// the step from below by this factor over a balanced router's.
        public var expertImbalance: Double {
            let busiest = expertRows.reduce(0) { $0 + ($1.max() ?? 0) }
            let mean = expertRows.reduce(0.0) { $0 + Double($1.reduce(0, +)) / Double(max($1.count, 1)) }
            return mean > 0 ? Double(busiest) / mean : 1
        }

        /// `run`'s ranks; ranks hold `experts / ranks` consecutive experts each.
        init(_ run: TrainingBenchmark.Run) {
            computeMilliseconds = run.rankComputeSeconds.map { $0 * 1e3 }
            waitMilliseconds = run.rankWaitSeconds.map { $0 * 1e3 }
            let ranks = run.rankComputeSeconds.count
            expertRows = (run.metrics.first?.experts ?? []).map { layer in
                let perRank = layer.tokensPerExpert.count / ranks
                return (0..<ranks).map { layer.tokensPerExpert[$0 * perRank..<($0 + 1) * perRank].reduce(0, +) }
            }
        }

        var line: String {
            func list(_ values: [Double]) -> String { values.map { String(format: "%.2f", $0) }.joined(separator: " / ") }
            let rows = expertRows.map { $0.map(String.init).joined(separator: "/") }.joined(separator: ", ")
            return "ep ranks, median ms per step: own work \(list(computeMilliseconds)), waiting for peers \(list(waitMilliseconds)); "
                + "expert rows per layer \(rows) (Σ busiest / Σ mean \(String(format: "%.3f", expertImbalance)))"
        }
    }

    /// Trains preset `configName` (`batch` sequences of `sequenceLength` tokens per step, `warmup` untimed and `steps`
    /// timed steps) at ep = 1 on one rank of `cores` threads, then at dp = ep = `cores` with one thread per rank;
    /// `rounds` alternating rounds of both, the preset run as `variant` says.
    /// - Throws: ``ModelError`` for an unknown preset; ``ParallelConfigError`` when `cores` does not divide `batch`
    ///   or the experts.
    public static func measureModel(configName: String, batch: Int, sequenceLength: Int, cores: Int, rounds: Int = 1, warmup: Int,
                                    steps: Int, variant: ModelVariant = .learned,
                                    progress: @escaping @Sendable (String) -> Void) throws -> ModelComparison {
        var config = try TransformerConfig.preset(named: configName)
        config.moe?.router.forcesLoadBalance = variant.forcesLoadBalance
        config.moe?.overlapsSharedExpert = variant.overlapsSharedExpert
        let shape = TrainingBenchmark.Shape(config: config, batch: batch, sequenceLength: sequenceLength)
        func sample(ep: Int, threads: Int) throws -> (LayerSample, TrainingBenchmark.Run) {
            let layout = try ParallelConfig(dp: ep, ep: ep, microBatchSize: batch / ep)
            progress("\(configName)\(variant == .learned ? "" : " (\(variant.label))") at ep=\(ep): \(ep) rank\(ep > 1 ? "s" : "") × \(threads) thread\(threads > 1 ? "s" : "")…")
            let run = try TrainingBenchmark.measure(shape, parallel: layout, blasThreads: threads, warmup: warmup, steps: steps,
                                                    progress: progress)
            let shares = zip(run.groupSeconds, run.stepSeconds).map { ($0["ep"] ?? 0) / $1 }
            let waits = zip(run.groupWaitSeconds, run.stepSeconds).map { ($0["ep"] ?? 0) / $1 }
            progress("  rank 0 per step, median ms: " + groupSummary(run))
            if ep > 1 { progress("  " + RankBalance(run).line) }
            return (LayerSample(ep: ep, threadsPerRank: threads, stepSeconds: run.medianStepSeconds, tokensPerSecond: run.tokensPerSecond,
                                allToAllShare: BenchStatistics.median(shares), allToAllWaitShare: ep > 1 ? BenchStatistics.median(waits) : nil,
                                tokensPerExpert: []), run)
        }
        var pairs: [(single: (LayerSample, TrainingBenchmark.Run), parallel: (LayerSample, TrainingBenchmark.Run))] = []
        for _ in 0..<max(rounds, 1) { pairs.append((try sample(ep: 1, threads: cores), try sample(ep: cores, threads: 1))) }
        func median(_ samples: [LayerSample]) -> LayerSample {
            var sample = samples.sorted { $0.stepSeconds < $1.stepSeconds }[samples.count / 2]
            sample.allToAllShare = BenchStatistics.median(samples.map(\.allToAllShare))
            sample.allToAllWaitShare = sample.allToAllWaitShare.map { _ in BenchStatistics.median(samples.compactMap(\.allToAllWaitShare)) }
            return sample
        }
        let medianRound = pairs.indices.sorted { pairs[$0].parallel.0.stepSeconds < pairs[$1].parallel.0.stepSeconds }[pairs.count / 2]
        return ModelComparison(configName: configName, batch: batch, sequenceLength: sequenceLength, variant: variant,
                               single: median(pairs.map(\.single.0)), parallel: median(pairs.map(\.parallel.0)),
                               speedRatio: BenchStatistics.median(pairs.map { $0.single.0.stepSeconds / $0.parallel.0.stepSeconds }),
                               singleLosses: pairs[0].single.1.losses, parallelLosses: pairs[0].parallel.1.losses,
                               lossesMatch: pairs.allSatisfy { $0.parallel.1.lossesMatch($0.single.1) },
                               balance: RankBalance(pairs[medianRound].parallel.1))
    }

    /// Rank 0's median milliseconds per step in each kind of group's collectives, and the waiting for peers in them:
    /// `ep 5.10 (wait 4.80), dp 0.31 (wait 0.20)`.
    static func groupSummary(_ run: TrainingBenchmark.Run) -> String {
        let groups = Set(run.groupSeconds.flatMap(\.keys)).sorted()
        guard !groups.isEmpty else { return "no collectives" }
        return groups.map { group in
            let total = BenchStatistics.median(run.groupSeconds.map { $0[group] ?? 0 }) * 1e3
            let wait = BenchStatistics.median(run.groupWaitSeconds.map { $0[group] ?? 0 }) * 1e3
            return String(format: "%@ %.2f (wait %.2f)", group, total, wait)
        }.joined(separator: ", ") + String(format: " of a %.2f ms step", run.medianStepSeconds * 1e3)
    }
}
