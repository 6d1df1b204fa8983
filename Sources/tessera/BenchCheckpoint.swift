import ArgumentParser
import Foundation
import TesseraCollectives
import TesseraFiles
import TesseraBench
import TesseraParallel
import TesseraTrain

/// `tessera bench checkpoint`: saving a model with its AdamW state as a distributed checkpoint, against the floor of
/// writing the same bytes sequentially to one file with fsync on the same disk; resuming it on another layout; and
/// how long an asynchronous save holds a training step up.
struct BenchCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Time a distributed checkpoint save (weights + AdamW moments) and a resume on another layout against a sequential fsync'd write of the same bytes, and the stall of an asynchronous save.")

    @Option(help: "Model preset.")
    var config = "gpt2-small"

    @Option(help: "Tensor-parallel ranks of the saving run (threads).")
    var tp = 2

    @Option(name: .customLong("load-dp"), help: "Data-parallel ranks (ZeRO-1) of the resuming run (threads).")
    var loadDP = 2

    @Option(name: .customLong("seq-len"), help: "Tokens per sequence of the training steps an asynchronous save is measured against (2 sequences a step).")
    var sequenceLength = 64

    @Option(help: "Scratch directory on the disk to measure (removed afterwards).")
    var directory = NSTemporaryDirectory() + "tessera-bench-checkpoint"

    @Option(help: "Timed runs (after one warm-up); the median is reported.")
    var runs = 3

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    struct Report: Codable {
        var benchmark = "checkpoint"
        let model: String
        let bytes: Int
        let files: Int
        let saveRanks: Int
        let loadRanks: Int
        let runs: Int
        let saveSeconds: Double
        let loadSeconds: Double
        let sequentialWriteSeconds: Double
        let sequenceLength: Int
        let stepSeconds: Double
        /// How long `save` held training up (the snapshot), and a step taken while the save was written.
        let asyncPauseSeconds: Double
        let busyStepSeconds: Double
    }

    func run() throws {
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = directory + "/text.txt", root = directory + "/checkpoints"
        try Data(String(repeating: "In the beginning God created the heaven and the earth. ", count: 400).utf8).write(to: URL(fileURLWithPath: text))
        func job(_ parallel: ParallelConfig, resume: String? = nil) throws -> TrainingJob {
            try TrainingJob(configuration: TrainingConfiguration(
                model: .init(config: config), data: .init(path: text, sequenceLength: sequenceLength), batch: .init(globalBatchSize: 2),
                parallelism: parallel, checkpoint: .init(directory: root, keep: 1, resume: resume), steps: 1000))
        }
        let saving = try job(ParallelConfig(tp: tp, microBatchSize: 2))
        let ranks = try ThreadGroup.run(ranks: saving.ranks, deadline: .seconds(600)) { world -> (saves: [Double], training: [Double]) in
            let trainer = try saving.makeTrainer(world: world)
            let saves = try (0...runs).map { run in
                try world.barrier()
                return try BenchStatistics.seconds { try saving.saveCheckpoint(trainer, step: run + 1) }
            }.dropFirst()
            return (Array(saves), try Self.asynchronousSaves(saving, trainer: trainer, world: world, runs: runs))
        }
        let manifest = try Checkpoint(path: root).manifest
        let loads = try (0...runs).map { _ in
            try BenchStatistics.seconds {
                let loading = try job(ParallelConfig(dp: loadDP, microBatchSize: 1, memory: .init(zeroStage: 1)), resume: root)
                _ = try ThreadGroup.run(ranks: loading.ranks, deadline: .seconds(600)) { world in _ = try loading.makeTrainer(world: world) }
            }
        }.dropFirst()
        let floors = try (0...runs).map { _ in try Self.sequentialWrite(bytes: manifest.totalBytes, to: directory + "/floor.bin") }.dropFirst()
        let training = ranks.map(\.training).max { $0[1] < $1[1] }!
        let report = Report(model: config, bytes: manifest.totalBytes, files: manifest.files.count, saveRanks: saving.ranks, loadRanks: loadDP,
                            runs: runs, saveSeconds: BenchStatistics.median(ranks.map { $0.saves }.transposedMaxima),
                            loadSeconds: BenchStatistics.median(Array(loads)), sequentialWriteSeconds: BenchStatistics.median(Array(floors)),
                            sequenceLength: sequenceLength, stepSeconds: training[0], asyncPauseSeconds: training[1], busyStepSeconds: training[2])
        print(report.table)
        if let json { try writeJSON(report, to: json, snakeCaseKeys: true) }
    }

    /// A warm-up step, `runs` training steps, then `runs` times an asynchronous save (the previous one finished
    /// first) followed by a step; the medians of the plain step, of the time each save held training up, and
    /// of the step taken while a save was written, in seconds.
    static func asynchronousSaves(_ job: TrainingJob, trainer: Trainer, world: any Communicator, runs: Int) throws -> [Double] {
        let writer = AsyncCheckpointWriter(job: job)
        var next = trainer.nextStep
        func step() throws -> Double {
            try world.barrier()
            defer { next += 1 }
            return try BenchStatistics.seconds { _ = try trainer.step(next) }
        }
        let plain = try (0...runs).map { _ in try step() }.dropFirst()
        var pauses: [Double] = [], busy: [Double] = []
        for _ in 0..<runs {
            try writer.wait()
            try world.barrier()
            pauses.append(try BenchStatistics.seconds { try writer.save(trainer, step: next - 1) })
            busy.append(try step())
        }
        try writer.wait()
        return [Array(plain), pauses, busy].map(BenchStatistics.median)
    }

    /// Seconds to write `bytes` bytes to one new file in 64 MiB writes and fsync it (the disk's sequential floor:
    /// plain system calls, no checksum).
    static func sequentialWrite(bytes: Int, to path: String) throws -> Double {
        let block = [UInt8](repeating: 0x5A, count: 64 << 20)
        defer { unlink(path) }
        return try BenchStatistics.seconds {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileWriteError(path: path, operation: "open") }
            defer { close(fd) }
            var left = bytes
            while left > 0 {
                let written = block.withUnsafeBytes { write(fd, $0.baseAddress!, min(left, $0.count)) }
                guard written > 0 else { throw FileWriteError(path: path, operation: "write") }
                left -= written
            }
            guard fsync(fd) == 0 else { throw FileWriteError(path: path, operation: "fsync") }
        }
    }
}

extension BenchCheckpoint.Report {
    var table: String {
        let c = BenchText.cell
        return """
            tessera bench checkpoint: \(model) with AdamW state, \(bytes / 1_000_000) MB in \(files) files; median of \(runs) runs after a warm-up

              | operation                                   | tessera (s) | floor: sequential write + fsync (s) | ratio |
              |---------------------------------------------|-------------|-------------------------------------|-------|
              | save on tp=\(saveRanks) (threads)                       | \(c(saveSeconds, 11, 3)) | \(c(sequentialWriteSeconds, 35, 3)) | \(c(saveSeconds / sequentialWriteSeconds, 5, 2)) |
              | validate + load + reshard onto dp=\(loadRanks) ZeRO-1  | \(c(loadSeconds, 11, 3)) | \(c(sequentialWriteSeconds, 35, 3)) | \(c(loadSeconds / sequentialWriteSeconds, 5, 2)) |

              | asynchronous save, tp=\(saveRanks) steps of 2 × \(sequenceLength) tokens | seconds | share of a step |
              |---------------------------------------------|-------------|-----------------|
              | training step without a save                | \(c(stepSeconds, 11, 3)) |                 |
              | training held up by the save (snapshot)     | \(c(asyncPauseSeconds, 11, 3)) | \(c(100 * asyncPauseSeconds / stepSeconds, 13, 1)) % |
              | step taken while the save is written        | \(c(busyStepSeconds, 11, 3)) | \(c(100 * (busyStepSeconds / stepSeconds - 1), 11, 1)) % slower |

              targets: save ≤ 1.2 × floor, load ≤ 1.5 × floor, asynchronous save stalls a step ≤ 10 %
            """
    }
}

extension [[Double]] {
    /// The largest value at each index across the arrays (each rank's time of the same run: the run took the slowest).
    var transposedMaxima: [Double] { self[0].indices.map { i in map { $0[i] }.max()! } }
}
