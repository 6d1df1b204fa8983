import Foundation
import TesseraCollectives

/// What `tessera bench collectives` times: a collective, or the memcpy that bounds them.
public enum CollectiveBenchOperation: String, CaseIterable, Codable, Sendable {
    case memcpy, allReduce, allGather, reduceScatter

    /// nccl-tests' bus-bandwidth factor: busbw = algbw × factor, the traffic each rank's link carries
    /// relative to the buffer (NVIDIA nccl-tests, doc/PERFORMANCE.md). memcpy is not a collective: 1.
    public func busFactor(ranks n: Int) -> Double {
        let n = Double(n)
        switch self {
        case .memcpy: return 1
        case .allReduce: return 2 * (n - 1) / n
        case .allGather, .reduceScatter: return (n - 1) / n
        }
    }

    /// The threads backend's traffic relative to one memcpy of the same bytes, so that
    /// `bound time = factor × memcpy time` when every rank copies concurrently (memory-bandwidth bound):
    /// - all-reduce: rank r reduces slice r reading N slices and writing one (S + S/N bytes), then copies
    ///   the other N−1 slices (2(N−1)S/N): (3N−1)S/N bytes against a memcpy's 2S, i.e. (3N−1)/(2N);
    /// - all-gather: each rank copies N blocks of S/N bytes, one memcpy of S: 1;
    /// - reduce-scatter: reads N blocks of S/N and writes S/N: (N+1)S/N against 2S, i.e. (N+1)/(2N).
    public func copyFactor(ranks n: Int) -> Double {
        let n = Double(n)
        switch self {
        case .memcpy, .allGather: return 1
        case .allReduce: return (3 * n - 1) / (2 * n)
        case .reduceScatter: return (n + 1) / (2 * n)
        }
    }
}

/// One measured point: the median over trials of the slowest rank's time per call.
public struct CollectiveSample: Codable, Equatable, Sendable {
    public var backend: String
    public var operation: CollectiveBenchOperation
    public var ranks: Int
    /// The buffer size in nccl-tests' sense: all-reduce buffer, all-gather output, reduce-scatter input.
    public var bytes: Int
    public var seconds: Double
    public var iterations: Int
    /// Algorithm bandwidth `bytes / seconds`, GB/s (10⁹ bytes per second).
    public var algorithmBandwidth: Double
    /// Bus bandwidth, GB/s: algorithm bandwidth × ``CollectiveBenchOperation/busFactor(ranks:)``.
    public var busBandwidth: Double
    /// MPI backend all-reduce only: the median over trials of raw `MPI_Allreduce` time / this backend's
    /// time in the same trial pair (timed alternately in one launch, same communicator and buffer).
    public var pairedRawRatio: Double?

    public init(backend: String, operation: CollectiveBenchOperation, ranks: Int, bytes: Int, seconds: Double, iterations: Int,
         pairedRawRatio: Double? = nil) {
        self.backend = backend
        self.operation = operation
        self.ranks = ranks
        self.bytes = bytes
        self.seconds = seconds
        self.iterations = iterations
        algorithmBandwidth = Double(bytes) / seconds / 1e9
        busBandwidth = algorithmBandwidth * operation.busFactor(ranks: ranks)
        self.pairedRawRatio = pairedRawRatio
    }
}

/// The timing schedule shared with bench/mpi_allreduce.c, so the columns compare like with like.
public enum CollectiveTiming {
    /// Calls per trial: about 64 MiB of buffer per trial, 1 to 1000 calls.
    public static func iterations(bytes: Int) -> Int { max(1, min(1000, (64 << 20) / max(bytes, 1))) }

    /// The buffer actually measured for a requested size: whole floats that split evenly over the ranks.
    public static func bytes(requested: Int, ranks: Int) -> Int { max(ranks, requested / 4 / ranks * ranks) * 4 }

    /// One trial on every rank of `world` (collective): a barrier, then `iterations` calls; returns the
    /// slowest rank's seconds per call.
    public static func trial(_ world: any Communicator, iterations: Int, _ call: () throws -> Void) throws -> Double {
        try world.barrier()
        let start = ContinuousClock.now
        for _ in 0..<iterations { try call() }
        let mine = BenchStatistics.seconds(ContinuousClock.now - start) / Double(iterations)
        return Double(try world.allReduce(Float(mine), operation: .max))
    }

    /// Times `call` on every rank of `world` (collective): one warm-up call, then `trials` trials
    /// (``trial(_:iterations:_:)``); returns the median.
    public static func median(_ world: any Communicator, iterations: Int, trials: Int, _ call: () throws -> Void) throws -> Double {
        try call()
        return BenchStatistics.middle(try (0..<trials).map { _ in try trial(world, iterations: iterations, call) })
    }

    /// Times `call` and `peer` interleaved call by call, after one warm-up call each: each of `trials`
    /// trials is a barrier, then `iterations` calls of each in the order call, peer, peer, call, … (which
    /// goes first alternates, so neither always follows the other), every call timed on its own. Returns
    /// each side's time as ``trial(_:iterations:_:)`` takes it (slowest rank's mean call; median over
    /// trials) and the median over trials of the ratio of the slowest ranks' median call times, peer /
    /// `call`: the median rather than the mean, since on a shared machine a preemption lands in one call
    /// and would weigh on one side only.
    ///
    /// Neighbouring calls see the same load, so the ratio holds within a few percent on a busy machine where
    /// whole trials of one then the other swing by tens of percent; a clock read per call (tens of
    /// nanoseconds) lands on both sides alike.
    public static func paired(_ world: any Communicator, iterations: Int, trials: Int, _ call: () throws -> Void,
                       peer: () throws -> Void) throws -> (seconds: Double, peerSeconds: Double, ratio: Double) {
        try call()
        try peer()
        var times: [Double] = [], peerTimes: [Double] = [], ratios: [Double] = []
        var calls = [Double](repeating: 0, count: iterations), peerCalls = calls
        for t in 0..<trials {
            try world.barrier()
            for i in 0..<iterations {
                let callFirst = (t + i) % 2 == 0
                let start = ContinuousClock.now
                try callFirst ? call() : peer()
                let between = ContinuousClock.now
                try callFirst ? peer() : call()
                let end = ContinuousClock.now
                calls[i] = (callFirst ? between - start : end - between) / .seconds(1)
                peerCalls[i] = (callFirst ? end - between : between - start) / .seconds(1)
            }
            let count = Double(iterations)
            var slowest = [calls.reduce(0, +) / count, peerCalls.reduce(0, +) / count, BenchStatistics.middle(calls), BenchStatistics.middle(peerCalls)].map(Float.init)
            try slowest.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: .max) }
            times.append(Double(slowest[0]))
            peerTimes.append(Double(slowest[1]))
            ratios.append(Double(slowest[3] / slowest[2]))
        }
        return (BenchStatistics.middle(times), BenchStatistics.middle(peerTimes), BenchStatistics.middle(ratios))
    }

    /// A call timed alternately with the backend's all-reduce: an in-place float sum over the same group
    /// (the MPI backend passes raw `MPI_Allreduce` on its own communicator).
    public typealias AllReducePeer = (UnsafeMutableBufferPointer<Float>) throws -> Void

    /// The backend name of the peer timed alternately with a backend's all-reduce in its launch.
    public static let pairedPeerBackend = "raw MPI_Allreduce, paired"

    /// Measures `operations` at `sizes` on `world` (collective); rank 0's return value is the table.
    /// With `allReducePeer`, all-reduce is timed in pairs with it (``paired(_:iterations:trials:_:peer:)``) and
    /// the peer's sample follows the backend's.
    public static func measure(_ world: any Communicator, backend: String, sizes: [Int],
                               operations: [CollectiveBenchOperation], trials: Int,
                               allReducePeer: AllReducePeer? = nil) throws -> [CollectiveSample] {
        let n = world.size
        var samples: [CollectiveSample] = []
        for requested in sizes {
            let bytes = self.bytes(requested: requested, ranks: n)
            let count = bytes / 4
            let iterations = self.iterations(bytes: bytes)
            for operation in operations {
                let (seconds, raw) = try time(operation, world: world, count: count, iterations: iterations, trials: trials,
                                              allReducePeer: allReducePeer)
                samples.append(CollectiveSample(backend: backend, operation: operation, ranks: n, bytes: bytes,
                                                seconds: seconds, iterations: iterations, pairedRawRatio: raw?.ratio))
                if let raw {
                    samples.append(CollectiveSample(backend: pairedPeerBackend, operation: operation, ranks: n,
                                                    bytes: bytes, seconds: raw.seconds, iterations: iterations))
                }
            }
        }
        return samples
    }

    /// The median seconds per call of `operation`; for an all-reduce with `allReducePeer` also those of the
    /// peer timed alternately with it and the median of their paired ratios.
    private static func time(_ operation: CollectiveBenchOperation, world: any Communicator, count: Int,
                             iterations: Int, trials: Int, allReducePeer: AllReducePeer?)
        throws -> (Double, (seconds: Double, ratio: Double)?) {
        let n = world.size
        var buffer = [Float](repeating: 0, count: count)
        for i in 0..<count { buffer[i] = Float((i &* 31 &+ world.rank) % 97) * 0.125 }
        var output = [Float](repeating: 0, count: operation == .reduceScatter ? count / n : count)
        return try buffer.withUnsafeMutableBufferPointer { buffer in
            try output.withUnsafeMutableBufferPointer { output in
                switch operation {
                case .memcpy:
                    return (try median(world, iterations: iterations, trials: trials) {
                        output.baseAddress!.update(from: buffer.baseAddress!, count: count)
                    }, nil)
                case .allReduce:
                    let call = { try world.allReduce(buffer, operation: .sum) }
                    guard let allReducePeer else {
                        return (try median(world, iterations: iterations, trials: trials, call), nil)
                    }
                    let pair = try paired(world, iterations: iterations, trials: trials, call) { try allReducePeer(buffer) }
                    return (pair.seconds, (pair.peerSeconds, pair.ratio))
                case .allGather:
                    let block = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<(count / n * 4)])
                    return (try median(world, iterations: iterations, trials: trials) {
                        try world.allGather(block, into: UnsafeMutableRawBufferPointer(output))
                    }, nil)
                case .reduceScatter:
                    return (try median(world, iterations: iterations, trials: trials) {
                        try world.reduceScatter(UnsafeBufferPointer(buffer), into: output, operation: .sum)
                    }, nil)
                }
            }
        }
    }

    /// Measures the memcpy bound and `operations` at `sizes` on the threads backend with `ranks` in-process ranks.
    public static func measureOnThreads(ranks: Int, sizes: [Int], operations: [CollectiveBenchOperation],
                                        trials: Int) throws -> [CollectiveSample] {
        try ThreadGroup.run(ranks: ranks, deadline: .seconds(600)) { world in
            try measure(world, backend: "threads", sizes: sizes, operations: [.memcpy] + operations, trials: trials)
        }[0]
    }
}
