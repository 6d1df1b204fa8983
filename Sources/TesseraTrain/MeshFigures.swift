import Foundation
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTensor

/// Bytes a rank moved per mesh axis, read from a ``CommunicationMeter`` whose groups are the
/// ``ProcessGroups`` of a mesh (named `tp[…]`, `dp[…]`, `pp[…]`, `embedding[…]`, …).
public enum MeshAxisBytes {
    /// Where the bytes went.
    public enum Axis: String, CaseIterable, Sendable, Codable {
        /// Tensor parallelism: the conjugate mappings and the partial-gradient sums.
        case tp
        /// Pipeline parallelism: activations and gradients between stages, and the tied-embedding sum.
        case pp
        /// Data parallelism: the gradient buckets (all-reduce or reduce-scatter) and the ZeRO-1 all-gathers.
        case dp
        /// Everything else: the loss and the gradient norm over the world or the model-parallel group.
        case other
    }

    /// The axis of a group named by ``ProcessGroups``.
    public static func axis(ofGroup name: String) -> Axis {
        switch name.prefix { $0 != "[" } {
        case "tp": return .tp
        case "pp", "embedding": return .pp
        case "dp", "dp×cp": return .dp
        default: return .other
        }
    }

    /// The bytes per axis metered since `last` (which is updated to the current totals).
    public static func sinceLast(_ meter: CommunicationMeter, last: inout [Axis: Int]) -> [Axis: Int] {
        var totals: [Axis: Int] = [:]
        for (group, figures) in meter.byGroup { totals[axis(ofGroup: group), default: 0] += figures.bytes }
        defer { last = totals }
        return totals.merging(last.mapValues { -$0 }, uniquingKeysWith: +)
    }
}

/// One rank's figures of a step, gathered onto every rank.
struct RankFigures {
    var memory: MemoryReport
    var bytes: [MeshAxisBytes.Axis: Int]

    /// Every rank's figures in world rank order (collective: every rank of `world` calls it).
    static func gather(_ mine: RankFigures, world: (any Communicator)?) throws -> [RankFigures] {
        let m = mine.memory
        let values = ([m.parameterBytes, m.gradientBytes, m.optimizerBytes, m.activationBytes]
            + MeshAxisBytes.Axis.allCases.map { mine.bytes[$0] ?? 0 }).map(Int64.init)
        guard let world, world.size > 1 else { return [mine] }
        var all = [Int64](repeating: 0, count: values.count * world.size)
        try values.withUnsafeBytes { input in
            try all.withUnsafeMutableBytes { try world.allGather(input, into: $0) }
        }
        return (0..<world.size).map { r in
            let v = all[r * values.count..<(r + 1) * values.count].map(Int.init)
            var memory = m
            (memory.parameterBytes, memory.gradientBytes, memory.optimizerBytes, memory.activationBytes) = (v[0], v[1], v[2], v[3])
            return RankFigures(memory: memory, bytes: Dictionary(uniqueKeysWithValues: zip(MeshAxisBytes.Axis.allCases, v[4...])))
        }
    }
}

/// The `cblas_sgemm` rate: the limit model FLOP/s are compared with (MFU).
public enum MatmulRate {
    /// FLOP/s of each of `repeats` products `[m, k] × [k, n]` after one warm-up, with the current BLAS threads.
    public static func samples(m: Int, n: Int, k: Int, repeats: Int) -> [Double] {
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        var rates: [Double] = []
        for r in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer {
                        Kernels.matmul(a.baseAddress!, b.baseAddress!, into: $0.baseAddress!, m: m, n: n, k: k)
                    }
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if r > 0 { rates.append(2 * Double(m) * Double(n) * Double(k) / seconds) }
        }
        return rates
    }

    /// The rate the ranks of a job reach together: every rank multiplies `[size, size] × [size, size]` at once
    /// with its own BLAS threads and the job's rate is the sum of the ranks' medians, so ranks that share cores
    /// share the measured rate. Collective over `world`.
    /// - Returns: FLOP/s.
    public static func measure(world: (any Communicator)?, size: Int = 512, repeats: Int = 5) throws -> Double {
        try world?.barrier()
        let median = samples(m: size, n: size, k: size, repeats: repeats).sorted()[repeats / 2]
        return try world?.sumInRankOrder(median) ?? median
    }
}
