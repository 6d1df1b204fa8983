import CBLAS
import Foundation
import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraTensor
import TesseraTrain

/// `tessera bench moe`: a mixture-of-experts expert layer (forward and backward) on one rank with every core against
/// expert parallelism over ranks of one core each, and the grouped expert product against one `cblas_sgemm` of the
/// same total size.
public enum MoEBench {
    /// The layer and batch measured.
    public struct Shape: Codable, Sendable {
        public var experts = 8, topK = 2, hidden = 512, intermediate = 1024, tokens = 2048
        public init() {}
    }

    /// One layout's medians.
    public struct LayerSample: Codable, Sendable {
        public var ep: Int, threadsPerRank: Int
        /// Median seconds of one forward and backward pass over the whole batch (`tokens` tokens over all ranks).
        public var stepSeconds: Double
        public var tokensPerSecond: Double
        /// Median fraction of rank 0's step spent in the expert-parallel all-to-alls (counts and rows).
        public var allToAllShare: Double
        /// The part of ``allToAllShare`` rank 0 spent waiting for its peer to arrive (``PeerWait``), where measured
        /// (whole-model rows).
        public var allToAllWaitShare: Double? = nil
        /// Global tokens each expert received in the last step.
        public var tokensPerExpert: [Int]
    }

    /// The grouped product of `experts` equal groups against one `cblas_sgemm` over all their rows.
    public struct GroupedSample: Codable, Sendable {
        public var groups: Int, rowsPerGroup: Int, k: Int, n: Int, threads: Int
        public var gflops: Double, sgemmGflops: Double
        /// Median over pairs of sgemm time / grouped time.
        public var ratio: Double
    }

    public struct Report: Codable, Sendable {
        public var shape: Shape
        public var single: LayerSample, parallel: LayerSample
        /// Median over rounds of ep = 1 step time / expert-parallel step time (above 1: expert parallelism was faster).
        public var speedRatio: Double
        public var grouped: GroupedSample
        public var machine: String
        /// Whole-model training steps at both layouts, one comparison per preset
        /// (``measureModel(configName:batch:sequenceLength:cores:rounds:warmup:steps:progress:)``), when measured.
        public var models: [ModelComparison] = []
    }

    /// Measures `rounds` alternating rounds of ep = 1 (one rank, `cores` threads) and ep = `cores` (one thread each),
    /// `steps` timed steps each after one warm-up step, then the grouped product.
    public static func run(shape: Shape, cores: Int, rounds: Int, steps: Int, machine: String) throws -> Report {
        var singles: [LayerSample] = [], parallels: [LayerSample] = []
        for _ in 0..<rounds {
            singles.append(try measureLayer(shape: shape, ep: 1, threadsPerRank: cores, steps: steps))
            parallels.append(try measureLayer(shape: shape, ep: cores, threadsPerRank: 1, steps: steps))
        }
        func median(_ samples: [LayerSample]) -> LayerSample {
            var sample = samples.sorted { $0.stepSeconds < $1.stepSeconds }[samples.count / 2]
            sample.allToAllShare = BenchStatistics.median(samples.map(\.allToAllShare))
            return sample
        }
        let ratio = BenchStatistics.median(zip(singles, parallels).map { $0.stepSeconds / $1.stepSeconds })
        let rows = shape.tokens * shape.topK / shape.experts
        return Report(shape: shape, single: median(singles), parallel: median(parallels), speedRatio: ratio,
                      grouped: measureGrouped(groups: shape.experts, rowsPerGroup: rows, k: shape.hidden, n: shape.intermediate,
                                              threads: cores, repeats: 2 * steps + 1),
                      machine: machine)
    }

    /// Forward and backward of the expert layer on `ep` ranks (data-parallel, each `tokens / ep` tokens), uniform
    /// random top-k routing.
    public static func measureLayer(shape: Shape, ep: Int, threadsPerRank: Int, steps: Int) throws -> LayerSample {
        BLASThreads.set(threadsPerRank)
        let local = shape.tokens / ep, h = shape.hidden
        let results = try ThreadGroup.run(ranks: ep) { world -> LayerSample in
            let meter = CommunicationMeter()
            let groups = try ProcessGroups(world: MeteredCommunicator(world, meter: meter), mesh: DeviceMesh(dp: ep, ep: ep))
            let context = LayerContext(groups: groups, backend: CPUBackend(pool: ComputePool(threads: threadsPerRank)))
            let name = { (e: Int, p: ExpertProjection) in "experts.\(e).\(p.rawValue)" }
            let store = ParameterStore(specs: try ExpertLayer.parameterSpecs(
                totalExperts: shape.experts, hidden: h, intermediate: shape.intermediate, tensorParallelism: .whole, context: context,
                initialization: .normal(std: 0.02), name: name), seed: 1)
            let layer = try ExpertLayer(experts: ExpertLayer.weights(in: store, totalExperts: shape.experts, context: context, name: name),
                                        totalExperts: shape.experts, context: context)
            let routing = try uniformRouting(tokens: local, shape: shape, seed: UInt64(world.rank))
            let x = FloatBuffer(count: local * h), dy = FloatBuffer(count: local * h)
            DeterministicRandom(seed: 2, stream: "x\(world.rank)").fillNormal(x.mutableElements, indices: 0..<x.count)
            DeterministicRandom(seed: 2, stream: "dy\(world.rank)").fillNormal(dy.mutableElements, indices: 0..<dy.count)
            let state = ExpertLayer.State(), workspace = Workspace(), queue = WeightGradientQueue()
            var times: [Double] = [], shares: [Double] = []
            for step in 0...steps {
                try world.barrier()
                let before = meter.seconds, start = DispatchTime.now().uptimeNanoseconds
                _ = try layer.forward(x.pointer, tokens: local, routing: routing, state: state, workspace: workspace)
                _ = try layer.backward(dy.pointer, state: state, workspace: workspace, queue: queue, mode: .full)
                try world.barrier()
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if step > 0 {
                    times.append(seconds)
                    shares.append((meter.seconds - before) / seconds)
                }
            }
            let counts = try layer.globalTokensPerExpert(state)
            let median = BenchStatistics.median(times)
            return LayerSample(ep: ep, threadsPerRank: threadsPerRank, stepSeconds: median, tokensPerSecond: Double(shape.tokens) / median,
                               allToAllShare: BenchStatistics.median(shares), tokensPerExpert: counts)
        }
        return results[0]
    }

    /// Every token's `topK` distinct experts drawn uniformly, equal weights.
    static func uniformRouting(tokens: Int, shape: Shape, seed: UInt64) throws -> ExpertRouting {
        var generator = SplitMix(state: seed &+ 0x9E37_79B9_7F4A_7C15)
        var ids: [Int32] = []
        for _ in 0..<tokens {
            var chosen: Set<Int32> = []
            while chosen.count < shape.topK { chosen.insert(Int32(generator.next() % UInt64(shape.experts))) }
            ids += chosen.sorted()
        }
        return try ExpertRouting(topK: shape.topK, experts: ids, weights: Array(repeating: 1 / Float(shape.topK), count: ids.count))
    }

    /// The grouped expert product (`groups` groups of `rowsPerGroup` rows, `[rows, k] · [n, k]ᵀ`, one weight per group)
    /// against one `cblas_sgemm` of all the rows with one weight, timed in pairs.
    public static func measureGrouped(groups: Int, rowsPerGroup: Int, k: Int, n: Int, threads: Int, repeats: Int) -> GroupedSample {
        BLASThreads.set(threads)
        let m = groups * rowsPerGroup
        let a = ElementwiseBench.filled(m * k, seed: 1), c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        let weights = (0..<groups).map { ElementwiseBench.filled(n * k, seed: UInt64(2 + $0)) }
        defer { ([a, c] + weights).forEach { $0.deallocate() } }
        c.initialize(repeating: 0, count: m * n)
        let rows = Array(repeating: rowsPerGroup, count: groups), pointers = weights.map { UnsafePointer($0) }
        let backend = CPUBackend.serial
        let grouped = {
            backend.groupedMatmul(a, lda: k, rows: rows, pointers, transposeB: true, ldb: k, into: c, ldc: n, n: n, k: k, beta: 0)
        }
        let sgemm = {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), weights[0], Int32(k),
                        0, c, Int32(n))
        }
        grouped()
        sgemm()
        let pairs = PairedTimer(repeats: repeats, grouped, peer: sgemm)
        let flops = 2 * Double(m) * Double(n) * Double(k)
        return GroupedSample(groups: groups, rowsPerGroup: rowsPerGroup, k: k, n: n, threads: threads, gflops: flops / pairs.median / 1e9,
                             sgemmGflops: flops / pairs.peerMedian / 1e9, ratio: pairs.ratio)
    }
}

extension MoEBench {
    /// One layout's table row: `ep=2 (2 ranks × 1 thread)`, tokens/s, step milliseconds, all-to-all percent.
    static func layoutRow(_ s: LayerSample) -> String {
        "ep=\(s.ep) (\(s.ep) rank\(s.ep > 1 ? "s" : "") × \(s.threadsPerRank) thread\(s.threadsPerRank > 1 ? "s" : ""))".padding(toLength: 30, withPad: " ", startingAt: 0)
            + String(format: "%10.0f %10.2f %12.1f%%", s.tokensPerSecond, s.stepSeconds * 1e3, s.allToAllShare * 100)
            + (s.allToAllWaitShare.map { String(format: " %11.1f%%", $0 * 100) } ?? "")
    }
}

/// SplitMix64: a small reproducible generator for the benchmark's routing.
struct SplitMix {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension MoEBench.Report {
    /// The report as a table.
    public func table() -> String {
        let g = grouped
        return """
            MoE expert layer (forward + backward): \(shape.experts) experts, top-\(shape.topK), hidden \(shape.hidden), \
            intermediate \(shape.intermediate), \(shape.tokens) tokens per step
            machine: \(machine)
            layout                          tokens/s    step ms   all-to-all
            \(MoEBench.layoutRow(single))
            \(MoEBench.layoutRow(parallel))
            ep=\(parallel.ep) / ep=1 tokens/s (median of paired rounds): \(String(format: "%.3f", speedRatio))
            tokens per expert (ep=\(parallel.ep), last step): \(parallel.tokensPerExpert.map(String.init).joined(separator: " "))

            grouped expert matmul: \(g.groups) groups × \(g.rowsPerGroup) rows, [rows, \(g.k)] · [\(g.n), \(g.k)]ᵀ, \(g.threads) BLAS threads
            grouped GFLOP/s | one cblas_sgemm (\(g.groups * g.rowsPerGroup) rows) GFLOP/s | ratio
            \(String(format: "%15.1f | %40.1f | %.3f", g.gflops, g.sgemmGflops, g.ratio))
            """ + models.map { "\n\n" + $0.table() }.joined()
    }
}
