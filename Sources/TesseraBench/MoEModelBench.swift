import Foundation
import TesseraModels
import TesseraParallel

/// The whole-model rows of `tessera bench moe`: training steps of a mixture-of-experts preset (embedding, attention,
/// routers, experts, head and AdamW, through the real ``Trainer``) on one rank with every core against dp = ep =
/// cores ranks of one thread each, at the same global batch.
extension MoEBench {
    /// Both layouts of the same training job.
    public struct ModelComparison: Codable, Sendable {
        public var configName: String, batch: Int, sequenceLength: Int
        /// Median whole-step figures (``LayerSample/allToAllShare``: rank 0's seconds in the expert-parallel group's
        /// collectives, the dispatch and combine all-to-alls and their counts, waiting for the peer included; no
        /// tokens per expert).
        public var single: LayerSample, parallel: LayerSample
        /// Each layout's losses of the timed steps.
        public var singleLosses: [Double], parallelLosses: [Double]
        /// Whether both layouts' losses agree within 1e-4 relative (the same job, only the order of sums differs).
        public var lossesMatch: Bool

        /// The comparison as table rows.
        public func table() -> String {
            return """
                whole-model training steps: \(configName), \(batch) sequences × \(sequenceLength) tokens per step
                layout                          tokens/s    step ms   all-to-all
                \(MoEBench.layoutRow(single))
                \(MoEBench.layoutRow(parallel))
                ep=\(parallel.ep) / ep=1 tokens/s: \(String(format: "%.3f", parallel.tokensPerSecond / single.tokensPerSecond)); \
                losses \(lossesMatch ? "match" : "DIFFER")
                """
        }
    }

    /// Trains preset `configName` (`batch` sequences of `sequenceLength` tokens per step, `warmup` untimed and `steps`
    /// timed steps) at ep = 1 on one rank of `cores` threads, then at dp = ep = `cores` with one thread per rank.
    /// - Throws: ``ModelError`` for an unknown preset; ``ParallelConfigError`` when `cores` does not divide `batch`
    ///   or the experts.
    public static func measureModel(configName: String, batch: Int, sequenceLength: Int, cores: Int, warmup: Int, steps: Int,
                                    progress: @escaping @Sendable (String) -> Void) throws -> ModelComparison {
        let shape = TrainingBenchmark.Shape(config: try TransformerConfig.preset(named: configName), batch: batch,
                                            sequenceLength: sequenceLength)
        func sample(ep: Int, threads: Int) throws -> (LayerSample, TrainingBenchmark.Run) {
            let layout = try ParallelConfig(dp: ep, ep: ep, microBatchSize: batch / ep)
            progress("\(configName) at ep=\(ep): \(ep) rank\(ep > 1 ? "s" : "") × \(threads) thread\(threads > 1 ? "s" : "")…")
            let run = try TrainingBenchmark.measure(shape, parallel: layout, blasThreads: threads, warmup: warmup, steps: steps,
                                                    progress: progress)
            let shares = zip(run.groupSeconds, run.stepSeconds).map { ($0["ep"] ?? 0) / $1 }
            return (LayerSample(ep: ep, threadsPerRank: threads, stepSeconds: run.medianStepSeconds, tokensPerSecond: run.tokensPerSecond,
                                allToAllShare: BenchStatistics.median(shares), tokensPerExpert: []), run)
        }
        let (single, singleRun) = try sample(ep: 1, threads: cores)
        let (parallel, parallelRun) = try sample(ep: cores, threads: 1)
        return ModelComparison(configName: configName, batch: batch, sequenceLength: sequenceLength, single: single, parallel: parallel,
                               singleLosses: singleRun.losses, parallelLosses: parallelRun.losses, lossesMatch: parallelRun.lossesMatch(singleRun))
    }
}
