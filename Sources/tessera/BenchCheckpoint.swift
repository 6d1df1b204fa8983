import ArgumentParser
import Foundation
import TesseraCollectives
import TesseraFiles
import TesseraBench
import TesseraParallel
import TesseraTrain

/// `tessera bench checkpoint`: saving a model with its AdamW state as a distributed checkpoint, against the floor of
/// writing the same bytes sequentially to one file with fsync on the same disk; and resuming it on another layout.
struct BenchCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Time a distributed checkpoint save (weights + AdamW moments) and a resume on another layout against a sequential fsync'd write of the same bytes.")

    @Option(help: "Model preset.")
    var config = "gpt2-small"

    @Option(help: "Tensor-parallel ranks of the saving run (threads).")
    var tp = 2

    @Option(name: .customLong("load-dp"), help: "Data-parallel ranks (ZeRO-1) of the resuming run (threads).")
    var loadDP = 2

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
    }

    func run() throws {
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = directory + "/text.txt", root = directory + "/checkpoints"
        try Data(String(repeating: "In the beginning God created the heaven and the earth. ", count: 40).utf8).write(to: URL(fileURLWithPath: text))
        func job(_ parallel: ParallelConfig, resume: String? = nil) throws -> TrainingJob {
            try TrainingJob(configuration: TrainingConfiguration(
                model: .init(config: config), data: .init(path: text, sequenceLength: 32), batch: .init(globalBatchSize: 2),
                parallelism: parallel, checkpoint: .init(directory: root, keep: 1, resume: resume), steps: runs + 2))
        }
        let saving = try job(ParallelConfig(tp: tp, microBatchSize: 2))
        let saves = try ThreadGroup.run(ranks: saving.ranks, deadline: .seconds(600)) { world -> [Double] in
            let trainer = try saving.makeTrainer(world: world)
            return try (0...runs).map { run in
                try world.barrier()
                let seconds = try BenchStatistics.seconds { try saving.saveCheckpoint(trainer, step: run + 1) }
                return seconds
            }.dropFirst().map { $0 }
        }
        let manifest = try Checkpoint(path: root).manifest
        let loads = try (0...runs).map { _ in
            try BenchStatistics.seconds {
                let loading = try job(ParallelConfig(dp: loadDP, microBatchSize: 1, memory: .init(zeroStage: 1)), resume: root)
                _ = try ThreadGroup.run(ranks: loading.ranks, deadline: .seconds(600)) { world in _ = try loading.makeTrainer(world: world) }
            }
        }.dropFirst()
        let floors = try (0...runs).map { _ in try Self.sequentialWrite(bytes: manifest.totalBytes, to: directory + "/floor.bin") }.dropFirst()
        let report = Report(model: config, bytes: manifest.totalBytes, files: manifest.files.count, saveRanks: saving.ranks, loadRanks: loadDP,
                            runs: runs, saveSeconds: BenchStatistics.median(saves.map { $0.max()! }),
                            loadSeconds: BenchStatistics.median(Array(loads)), sequentialWriteSeconds: BenchStatistics.median(Array(floors)))
        print(report.table)
        if let json { try writeJSON(report, to: json, snakeCaseKeys: true) }
    }

    /// Seconds to write `bytes` bytes to one new file in 64 MiB writes, fsynced (the disk's sequential floor).
    static func sequentialWrite(bytes: Int, to path: String) throws -> Double {
        let block = [UInt8](repeating: 0x5A, count: 64 << 20)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try BenchStatistics.seconds {
            try AtomicFile.write(to: path) { sink in
                var left = bytes
                while left > 0 {
                    let count = min(left, block.count)
                    try block.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                    left -= count
                }
            }
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

              targets: save ≤ 1.2 × floor, load ≤ 1.5 × floor
            """
    }
}
