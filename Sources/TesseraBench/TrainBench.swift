import Foundation
import TesseraParallel

/// `tessera bench train`: Tessera's training throughput against PyTorch's on the same shape and thread count, and
/// against the machine's `cblas_sgemm` rate, in one run. Tessera runs twice on the same cores: one rank whose
/// OpenBLAS uses every thread (PyTorch's layout), and data parallelism over thread ranks of one BLAS thread each
/// (the same global batch; its losses are checked against the one-rank run).
public enum TrainBench {
    /// Tessera's data-parallel run on the same cores.
    public struct DataParallelRun {
        public var dp: Int
        public var run: TrainingBenchmark.Run
        /// Peak resident bytes of this run alone (where the kernel lets the peak be reset).
        public var peakBytes: Int
        /// Whether its losses equal the one-rank run's (``TrainingBenchmark/Run/lossesMatch(_:)``).
        public var lossesEqual: Bool

        public init(dp: Int, run: TrainingBenchmark.Run, peakBytes: Int, lossesEqual: Bool) {
            (self.dp, self.run, self.peakBytes, self.lossesEqual) = (dp, run, peakBytes, lossesEqual)
        }
    }

    /// The settings and figures of one `tessera bench train` run; ``lines`` is its table, ``json`` its JSON.
    public struct Result {
        /// The model preset or config.json as given, and the layer override (a smoke run).
        public var configName: String
        public var layers: Int?
        public var shape: TrainingBenchmark.Shape
        public var threads: Int
        public var warmup: Int
        public var steps: Int
        /// The limit's product `[m, k] × [k, n]` and its GFLOP/s samples, taken before and after the runs.
        public var sgemmShape: (m: Int, n: Int, k: Int)
        public var sgemmRates: [Double]
        public var tessera: TrainingBenchmark.Run
        public var tesseraPeakBytes: Int
        public var dataParallel: DataParallelRun?
        public var peer: PyTorchPeer?

        public init(configName: String, layers: Int?, shape: TrainingBenchmark.Shape, threads: Int, warmup: Int, steps: Int,
                    sgemmShape: (m: Int, n: Int, k: Int), sgemmRates: [Double], tessera: TrainingBenchmark.Run,
                    tesseraPeakBytes: Int, dataParallel: DataParallelRun?, peer: PyTorchPeer?) {
            (self.configName, self.layers, self.shape, self.threads) = (configName, layers, shape, threads)
            (self.warmup, self.steps, self.sgemmShape, self.sgemmRates) = (warmup, steps, sgemmShape, sgemmRates)
            (self.tessera, self.tesseraPeakBytes, self.dataParallel, self.peer) = (tessera, tesseraPeakBytes, dataParallel, peer)
        }

        /// The median `cblas_sgemm` GFLOP/s: the limit.
        public var sgemm: Double { BenchStatistics.median(sgemmRates) }

        /// The best tokens/s Tessera reached on these cores (one rank or data-parallel).
        public var bestTokensPerSecond: Double { max(tessera.tokensPerSecond, dataParallel?.run.tokensPerSecond ?? 0) }
    }

    /// Measures the limit, Tessera on one rank, Tessera data-parallel (`dp` > 1: `dp` thread ranks of
    /// `threads / dp` BLAS threads and `batch / dp` sequences each), then the peer, then the limit again.
    /// - Precondition: `dp` divides `threads` and the shape's batch.
    public static func measure(_ shape: TrainingBenchmark.Shape, configName: String, layers: Int?, threads: Int, dp: Int,
                               warmup: Int, steps: Int, peer: (() throws -> PyTorchPeer)?,
                               progress: @escaping @Sendable (String) -> Void) throws -> Result {
        // The limit: the dominant product of the step (the MLP's up projection over all tokens of the step).
        let m = shape.tokensPerStep, n = shape.config.mlp.intermediateSize, k = shape.config.hiddenSize
        progress("measuring cblas_sgemm \(m)×\(n)×\(k) on \(threads) threads…")
        var sgemmRates = TrainingBenchmark.sgemmSamples(m: m, n: n, k: k, threads: threads)
        progress("Tessera: \(warmup) warm-up + \(steps) timed steps…")
        let tessera = try TrainingBenchmark.measure(shape, blasThreads: threads, warmup: warmup, steps: steps, progress: progress)
        let tesseraPeak = MachineInfo.peakResidentBytes()
        var dataParallel: DataParallelRun?
        if dp > 1 {
            progress("Tessera dp=\(dp): \(dp) thread ranks × \(threads / dp) BLAS thread\(threads / dp == 1 ? "" : "s"), micro-batch \(shape.batch / dp)…")
            MachineInfo.resetPeakResident()
            let layout = try ParallelConfig(dp: dp, microBatchSize: shape.batch / dp)
            let run = try TrainingBenchmark.measure(shape, parallel: layout, blasThreads: threads / dp, warmup: warmup, steps: steps,
                                                    progress: progress)
            dataParallel = DataParallelRun(dp: dp, run: run, peakBytes: MachineInfo.peakResidentBytes(),
                                           lossesEqual: run.lossesMatch(tessera))
        }
        let peerResult = try peer?()
        // Sampled before and after both runs, so a machine that got busier or quieter meanwhile shows in the limit too.
        sgemmRates += TrainingBenchmark.sgemmSamples(m: m, n: n, k: k, threads: threads)
        return Result(configName: configName, layers: layers, shape: shape, threads: threads, warmup: warmup, steps: steps,
                      sgemmShape: (m, n, k), sgemmRates: sgemmRates, tessera: tessera, tesseraPeakBytes: tesseraPeak,
                      dataParallel: dataParallel, peer: peerResult)
    }
}
