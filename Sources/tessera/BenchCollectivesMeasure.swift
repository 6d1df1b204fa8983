import Foundation
import TesseraCollectives
import TesseraMPI

/// What `tessera bench collectives` times: a collective, or the memcpy that bounds them.
enum CollectiveBenchOperation: String, CaseIterable, Codable {
    case memcpy, allReduce, allGather, reduceScatter

    /// nccl-tests' bus-bandwidth factor: busbw = algbw × factor, the traffic each rank's link carries
    /// relative to the buffer (NVIDIA nccl-tests, doc/PERFORMANCE.md). memcpy is not a collective: 1.
    func busFactor(ranks n: Int) -> Double {
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
    func copyFactor(ranks n: Int) -> Double {
        let n = Double(n)
        switch self {
        case .memcpy, .allGather: return 1
        case .allReduce: return (3 * n - 1) / (2 * n)
        case .reduceScatter: return (n + 1) / (2 * n)
        }
    }
}

/// One measured point: the median over trials of the slowest rank's time per call.
struct CollectiveSample: Codable, Equatable {
    var backend: String
    var operation: CollectiveBenchOperation
    var ranks: Int
    /// The buffer size in nccl-tests' sense: all-reduce buffer, all-gather output, reduce-scatter input.
    var bytes: Int
    var seconds: Double
    var iterations: Int
    /// Algorithm bandwidth `bytes / seconds`, GB/s (10⁹ bytes per second).
    var algorithmBandwidth: Double
    /// Bus bandwidth, GB/s: algorithm bandwidth × ``CollectiveBenchOperation/busFactor(ranks:)``.
    var busBandwidth: Double
    /// MPI backend all-reduce only: the median over trials of raw `MPI_Allreduce` time / this backend's
    /// time in the same trial pair (timed alternately in one launch, same communicator and buffer).
    var pairedRawRatio: Double?

    init(backend: String, operation: CollectiveBenchOperation, ranks: Int, bytes: Int, seconds: Double, iterations: Int,
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
enum CollectiveTiming {
    /// Calls per trial: about 64 MiB of buffer per trial, 1 to 1000 calls.
    static func iterations(bytes: Int) -> Int { max(1, min(1000, (64 << 20) / max(bytes, 1))) }

    /// The buffer actually measured for a requested size: whole floats that split evenly over the ranks.
    static func bytes(requested: Int, ranks: Int) -> Int { max(ranks, requested / 4 / ranks * ranks) * 4 }


    /// One trial on every rank of `world` (collective): a barrier, then `iterations` calls; returns the
    /// slowest rank's seconds per call.
    static func trial(_ world: any Communicator, iterations: Int, _ call: () throws -> Void) throws -> Double {
        try world.barrier()
        let start = ContinuousClock.now
        for _ in 0..<iterations { try call() }
        let elapsed = ContinuousClock.now - start
        let mine = (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18) / Double(iterations)
        return Double(try world.allReduce(Float(mine), operation: .max))
    }

    /// The median as bench/mpi_allreduce.c takes it: the middle value, the upper one of an even count.
    static func middle(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// Times `call` on every rank of `world` (collective): one warm-up call, then `trials` trials
    /// (``trial(_:iterations:_:)``); returns the median.
    static func median(_ world: any Communicator, iterations: Int, trials: Int, _ call: () throws -> Void) throws -> Double {
        try call()
        return middle(try (0..<trials).map { _ in try trial(world, iterations: iterations, call) })
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
    static func paired(_ world: any Communicator, iterations: Int, trials: Int, _ call: () throws -> Void,
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
            var slowest = [calls.reduce(0, +) / count, peerCalls.reduce(0, +) / count, middle(calls), middle(peerCalls)].map(Float.init)
            try slowest.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: .max) }
            times.append(Double(slowest[0]))
            peerTimes.append(Double(slowest[1]))
            ratios.append(Double(slowest[3] / slowest[2]))
        }
        return (middle(times), middle(peerTimes), middle(ratios))
    }

    /// Measures `operations` at `sizes` on `world` (collective); rank 0's return value is the table.
    static func measure(_ world: any Communicator, backend: String, sizes: [Int],
                        operations: [CollectiveBenchOperation], trials: Int) throws -> [CollectiveSample] {
        let n = world.size
        var samples: [CollectiveSample] = []
        for requested in sizes {
            let bytes = self.bytes(requested: requested, ranks: n)
            let count = bytes / 4
            let iterations = self.iterations(bytes: bytes)
            for operation in operations {
                let (seconds, raw) = try time(operation, world: world, count: count, iterations: iterations, trials: trials)
                samples.append(CollectiveSample(backend: backend, operation: operation, ranks: n, bytes: bytes,
                                                seconds: seconds, iterations: iterations, pairedRawRatio: raw?.ratio))
                if let raw {
                    samples.append(CollectiveSample(backend: RawMPIAllReduce.pairedBackend, operation: operation, ranks: n,
                                                    bytes: bytes, seconds: raw.seconds, iterations: iterations))
                }
            }
        }
        return samples
    }

    /// The median seconds per call of `operation`; for an MPI-backend all-reduce also those of a raw
    /// `MPI_Allreduce` timed alternately with it (``MPIRawAllReduce``) and the
    /// median of their paired ratios.
    private static func time(_ operation: CollectiveBenchOperation, world: any Communicator, count: Int,
                             iterations: Int, trials: Int) throws -> (Double, (seconds: Double, ratio: Double)?) {
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
                    guard let raw = MPIRawAllReduce(on: world) else {
                        return (try median(world, iterations: iterations, trials: trials, call), nil)
                    }
                    let pair = try paired(world, iterations: iterations, trials: trials, call) { try raw.sum(buffer) }
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
}

/// Raw `MPI_Allreduce`, the MPI backend's peer: in this process on the backend's own communicator, and as
/// the C program bench/mpi_allreduce.c in its own mpirun launch.
enum RawMPIAllReduce {
    /// The backend name of the raw call timed alternately with the MPI backend in its launch.
    static let pairedBackend = "raw MPI_Allreduce, paired"

    /// Runs bench/mpi_allreduce.c under mpirun and reads its lines.
    static func run(program: String, mpirun: [String], ranks: Int, sizes: [Int], trials: Int) throws -> [CollectiveSample] {
        let output = try Subprocess.run(mpirun + ["-np", "\(ranks)", program, "--trials", "\(trials)"] + sizes.map(String.init))
        return output.split(separator: "\n").compactMap { line -> CollectiveSample? in
            let fields = line.split(separator: " ")
            guard fields.count == 3, let bytes = Int(fields[0]), let seconds = Double(fields[1]),
                  let iterations = Int(fields[2]) else { return nil }
            return CollectiveSample(backend: "raw MPI_Allreduce", operation: .allReduce, ranks: ranks, bytes: bytes,
                                    seconds: seconds, iterations: iterations)
        }
    }
}

/// Runs a command and returns its standard output; throws with its output when it fails.
enum Subprocess {
    struct Failure: Error, CustomStringConvertible {
        let command: [String]
        let status: Int32
        let output: String
        var description: String {
            "\(command.joined(separator: " ")) exited with status \(status):\n\(output.suffix(2000))"
        }
    }

    static func run(_ command: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure(command: command, status: process.terminationStatus, output: output)
        }
        return output
    }
}
