import Foundation
import TesseraModels
import TesseraParallel

/// `tessera bench mesh`: data parallelism, ZeRO-1 and a 3D mesh on the cores of one machine, each against its
/// peer measured in the same run: dp=N ranks × 1 BLAS thread against one rank with N BLAS threads at the same
/// global batch; ZeRO-1's optimizer bytes per rank against 1/dp of one rank's; the dp × pp × tp mesh's model
/// FLOP/s against the `cblas_sgemm` rate of all cores (MFU) and against one rank on the same shape.
public enum MeshBench {
    /// One rank with `dp` BLAS threads, `dp` ranks of one BLAS thread, and the same with ZeRO-1.
    public struct DataParallelResult {
        public var configName: String
        public var shape: TrainingBenchmark.Shape
        public var microBatchSize: Int
        public var dp: Int
        public var warmup: Int
        public var steps: Int
        public var single: TrainingBenchmark.Run
        public var data: TrainingBenchmark.Run
        public var zero: TrainingBenchmark.Run

        public init(configName: String, shape: TrainingBenchmark.Shape, microBatchSize: Int, dp: Int, warmup: Int, steps: Int,
                    single: TrainingBenchmark.Run, data: TrainingBenchmark.Run, zero: TrainingBenchmark.Run) {
            (self.configName, self.shape, self.microBatchSize, self.dp) = (configName, shape, microBatchSize, dp)
            (self.warmup, self.steps, self.single, self.data, self.zero) = (warmup, steps, single, data, zero)
        }
    }

    /// A dp × pp × tp mesh of one BLAS thread per rank against one rank with every core, micro-batch 1.
    public struct MeshResult {
        public var configName: String
        public var shape: TrainingBenchmark.Shape
        public var layout: ParallelConfig
        public var cores: Int
        public var mesh: TrainingBenchmark.Run
        public var peer: TrainingBenchmark.Run
        /// `cblas_sgemm` 1024³ GFLOP/s on every core, sampled before and after the runs.
        public var sgemmRates: [Double]

        public init(configName: String, shape: TrainingBenchmark.Shape, layout: ParallelConfig, cores: Int,
                    mesh: TrainingBenchmark.Run, peer: TrainingBenchmark.Run, sgemmRates: [Double]) {
            (self.configName, self.shape, self.layout, self.cores) = (configName, shape, layout, cores)
            (self.mesh, self.peer, self.sgemmRates) = (mesh, peer, sgemmRates)
        }
    }

    /// Trains `shape` on one rank with `dp` BLAS threads, on `dp` ranks, and on `dp` ranks with ZeRO-1.
    public static func measureDataParallel(_ shape: TrainingBenchmark.Shape, configName: String, microBatchSize: Int, dp: Int,
                                           warmup: Int, steps: Int,
                                           progress: @escaping @Sendable (String) -> Void) throws -> DataParallelResult {
        func run(dp ranks: Int, zero: Int = 0, blasThreads: Int) throws -> TrainingBenchmark.Run {
            let layout = try ParallelConfig(dp: ranks, microBatchSize: microBatchSize, memory: .init(zeroStage: zero))
            return try TrainingBenchmark.measure(shape, parallel: layout, blasThreads: blasThreads, warmup: warmup, steps: steps,
                                                 progress: progress)
        }
        progress("1 rank × \(dp) BLAS threads (\(configName), \(shape.batch) × \(shape.sequenceLength), micro-batch \(microBatchSize))…")
        let single = try run(dp: 1, blasThreads: dp)
        progress("dp=\(dp): \(dp) ranks × 1 BLAS thread…")
        let data = try run(dp: dp, blasThreads: 1)
        progress("dp=\(dp) with ZeRO-1…")
        let zero = try run(dp: dp, zero: 1, blasThreads: 1)
        return DataParallelResult(configName: configName, shape: shape, microBatchSize: microBatchSize, dp: dp, warmup: warmup,
                                  steps: steps, single: single, data: data, zero: zero)
    }

    /// Trains `shape` on the `dp × pp × tp` mesh (1F1B, micro-batch 1, one BLAS thread per rank) and on one rank
    /// with `cores` BLAS threads, one warm-up and two timed steps each, between two samplings of `cblas_sgemm`.
    public static func measureMesh(_ shape: TrainingBenchmark.Shape, configName: String, dp: Int, pp: Int, tp: Int, cores: Int,
                                   progress: @escaping @Sendable (String) -> Void) throws -> MeshResult {
        let layout = try ParallelConfig(dp: dp, pp: pp, tp: tp, microBatchSize: 1, memory: .init(zeroStage: 0))
        var sgemmRates = TrainingBenchmark.sgemmSamples(m: 1024, n: 1024, k: 1024, threads: cores)
        progress("\(layout.description) on \(layout.ranks) ranks × 1 BLAS thread (\(configName), \(shape.batch) × \(shape.sequenceLength))…")
        let mesh = try TrainingBenchmark.measure(shape, parallel: layout, blasThreads: 1, warmup: 1, steps: 2, progress: progress)
        progress("the same shape on 1 rank × \(cores) BLAS threads…")
        let single = try ParallelConfig(dp: 1, microBatchSize: 1, memory: .init(zeroStage: 0))
        let peer = try TrainingBenchmark.measure(shape, parallel: single, blasThreads: cores, warmup: 1, steps: 2, progress: progress)
        sgemmRates += TrainingBenchmark.sgemmSamples(m: 1024, n: 1024, k: 1024, threads: cores)
        return MeshResult(configName: configName, shape: shape, layout: layout, cores: cores, mesh: mesh, peer: peer,
                          sgemmRates: sgemmRates)
    }

    /// The JSON `tessera bench mesh --json` writes: both parts under one object.
    public static func json(_ dataParallel: DataParallelResult, mesh: MeshResult?) -> [String: Any] {
        var report: [String: Any] = ["benchmark": "mesh", "machine": TrainingBenchmark.machine, "warmup_steps": dataParallel.warmup,
                                     "timed_steps": dataParallel.steps, "data_parallel": dataParallel.json]
        if let mesh { report["mesh"] = mesh.json }
        return report
    }
}
