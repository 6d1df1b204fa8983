import ArgumentParser
import Foundation
import TesseraCollectives
import TesseraFiles
import TesseraModels
import TesseraBench
import TesseraParallel
import TesseraTensor
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

    @Flag(help: "Evict the checkpoint's files from the page cache before each load (POSIX_FADV_DONTNEED), so loads read the disk.")
    var cold = false

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
        /// The median of each save's time over the floor measured right after it.
        let saveRatio: Double
        /// Validating every file and each rank restoring its part (the slowest rank), engines already built.
        let loadSeconds: Double
        /// The whole resume: the job (data, validation), every rank's engine built and restored.
        let resumeSeconds: Double
        let sequentialWriteSeconds: Double
        /// Whether the loads read the disk (the files evicted from the page cache first) rather than the cache.
        let cold: Bool
        let sequenceLength: Int
        let stepSeconds: Double
        /// How long an asynchronous save held training up (the call, and the next optimizer update's wait for the
        /// snapshot), and a step taken while the save was written.
        let asyncPauseSeconds: Double
        let busyStepSeconds: Double
        /// How long a save held training up when the training thread waited for the snapshot's copy at once.
        let inlineCopyPauseSeconds: Double
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
        let floorPath = directory + "/floor.bin"
        let ranks = try ThreadGroup.run(ranks: saving.ranks, deadline: .seconds(1800)) { world -> (saves: [Double], floors: [Double], training: [Double]) in
            let trainer = try saving.makeTrainer(world: world)
            // Each save is followed by the floor on the same bytes, so both meet the disk in the same state.
            let pairs = try (0...runs).map { run -> (Double, Double) in
                try world.barrier()
                let save = try BenchStatistics.seconds { try saving.saveCheckpoint(trainer, step: run + 1) }
                let floor = try world.rank == 0 ? Self.sequentialWrite(bytes: Checkpoint.manifest(in: root).totalBytes, to: floorPath) : 0
                return (save, floor)
            }.dropFirst()
            return (pairs.map { $0.0 }, pairs.map { $0.1 }, try Self.asynchronousSaves(saving, trainer: trainer, world: world, runs: runs))
        }
        let manifest = try Checkpoint(path: root).manifest
        let training = ranks.map(\.training).max { $0[1] < $1[1] }!
        let loadLayout = try ParallelConfig(dp: loadDP, microBatchSize: 1, memory: .init(zeroStage: 1))
        let loads = try (0...runs).map { _ in try Self.load(root, layout: loadLayout, cold: cold, job: { try job(loadLayout, resume: root) }) }.dropFirst()
        let saves = ranks.map(\.saves).transposedMaxima, floors = ranks[0].floors
        let report = Report(model: config, bytes: manifest.totalBytes, files: manifest.files.count, saveRanks: saving.ranks, loadRanks: loadDP,
                            runs: runs, saveSeconds: BenchStatistics.median(saves), saveRatio: BenchStatistics.median(zip(saves, floors).map { $0 / $1 }),
                            loadSeconds: BenchStatistics.median(loads.map { $0[0] }), resumeSeconds: BenchStatistics.median(loads.map { $0[1] }),
                            sequentialWriteSeconds: BenchStatistics.median(floors),
                            cold: cold, sequenceLength: sequenceLength, stepSeconds: training[0], asyncPauseSeconds: training[1], busyStepSeconds: training[2],
                            inlineCopyPauseSeconds: training[3])
        print(report.table)
        if let json { try writeJSON(report, to: json, snakeCaseKeys: true) }
    }

    /// A warm-up step and `runs` training steps, then `runs` times each of: an asynchronous save whose snapshot the
    /// training thread waits for at once (the copy on the training thread, as before the copy overlapped the next
    /// step), and one whose copy the next step overlaps; each save followed by a step (the previous save finished
    /// first). Returns the medians of the plain step, of the time an overlapped save held training up (the call plus
    /// the next optimizer update's wait for the copy), of the step taken while a save was written, and of the time
    /// a save copied on the training thread held it up, in seconds.
    static func asynchronousSaves(_ job: TrainingJob, trainer: Trainer, world: any Communicator, runs: Int) throws -> [Double] {
        let writer = AsyncCheckpointWriter(job: job)
        var next = trainer.nextStep
        func step() throws -> Double {
            try world.barrier()
            defer { next += 1 }
            return try BenchStatistics.seconds { _ = try trainer.step(next) }
        }
        let plain = try (0...runs).map { _ in try step() }.dropFirst()
        var overlapped: [Double] = [], busy: [Double] = [], inline: [Double] = []
        for _ in 0..<runs {
            for overlaps in [false, true] {
                try writer.wait()
                try world.barrier()
                let waited = trainer.engine.stateReadWaitSeconds
                let call = try BenchStatistics.seconds {
                    try writer.save(trainer, step: next - 1)
                    if !overlaps { trainer.engine.pendingStateRead?.wait() }
                }
                let stepped = try step()
                let held = call + trainer.engine.stateReadWaitSeconds - waited
                if overlaps {
                    overlapped.append(held)
                    busy.append(stepped)
                } else {
                    inline.append(held)
                }
            }
        }
        try writer.wait()
        return [Array(plain), overlapped, busy, inline].map(BenchStatistics.median)
    }

    /// One resume of the checkpoint at `root` onto `layout` (its files first dropped from the page cache when
    /// `cold`): the seconds of the checkpoint's own work (validating every file, then each rank restoring its part
    /// into an engine built beforehand; the slowest rank), and of the whole resume as `tessera train --resume`
    /// does it (the job from `job`, every rank's engine built and restored).
    static func load(_ root: String, layout: ParallelConfig, cold: Bool, job: () throws -> TrainingJob) throws -> [Double] {
        let directory = try CheckpointDirectory.resolve(root)
        if cold { try evictFromPageCache(directory) }
        let start = ContinuousClock.now
        let checkpoint = try Checkpoint(path: directory)
        let validation = BenchStatistics.seconds(ContinuousClock.now - start)
        let loading = try job()
        let restores = try ThreadGroup.run(ranks: loading.ranks, deadline: .seconds(600)) { world -> Double in
            let engine = try MeshEngine(config: loading.modelConfig, parallel: layout, groups: Trainer.processGroups(layout, world: world), seed: nil,
                                        optimizer: loading.configuration.optimizer.adamW, backend: CPUBackend(pool: ComputePool(threads: 1)))
            try world.barrier()
            return try BenchStatistics.seconds { try checkpoint.restore(into: engine) }
        }
        if cold { try evictFromPageCache(directory) }
        let resume = try BenchStatistics.seconds {
            let resuming = try job()
            _ = try ThreadGroup.run(ranks: resuming.ranks, deadline: .seconds(600)) { world in _ = try resuming.makeTrainer(world: world) }
        }
        return [validation + restores.max()!, resume]
    }

    /// Drops the files of `directory` from the page cache (they are clean: every file was fsynced).
    static func evictFromPageCache(_ directory: String) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let fd = open(directory + "/" + name, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
            close(fd)
        }
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
              | save on tp=\(saveRanks) (threads)                       | \(c(saveSeconds, 11, 3)) | \(c(sequentialWriteSeconds, 35, 3)) | \(c(saveRatio, 5, 2)) |
              | validate + load + reshard onto dp=\(loadRanks) ZeRO-1  | \(c(loadSeconds, 11, 3)) | \(c(sequentialWriteSeconds, 35, 3)) | \(c(loadSeconds / sequentialWriteSeconds, 5, 2)) |
              | whole resume (job, engines built, restored) | \(c(resumeSeconds, 11, 3)) | \(c(sequentialWriteSeconds, 35, 3)) | \(c(resumeSeconds / sequentialWriteSeconds, 5, 2)) |

              loads read the checkpoint from \(cold ? "the disk (its files dropped from the page cache first)" : "the page cache (written just before)")

              | asynchronous save, tp=\(saveRanks) steps of 2 × \(sequenceLength) tokens | seconds | share of a step |
              |---------------------------------------------|-------------|-----------------|
              | training step without a save                | \(c(stepSeconds, 11, 3)) |                 |
              | held up, snapshot copied on the training thread | \(c(inlineCopyPauseSeconds, 7, 3)) | \(c(100 * inlineCopyPauseSeconds / stepSeconds, 13, 1)) % |
              | held up, copy overlapping the next step     | \(c(asyncPauseSeconds, 11, 3)) | \(c(100 * asyncPauseSeconds / stepSeconds, 13, 1)) % |
              | step taken while the save is written        | \(c(busyStepSeconds, 11, 3)) | \(c(100 * (busyStepSeconds / stepSeconds - 1), 11, 1)) % slower |

              the floor is measured right after each save; the save ratio is the median of those pairs
              targets: save ≤ 1.2 × floor, load ≤ 1.5 × floor, asynchronous save stalls a step ≤ 10 %
            """
    }
}

extension [[Double]] {
    /// The largest value at each index across the arrays (each rank's time of the same run: the run took the slowest).
    var transposedMaxima: [Double] { self[0].indices.map { i in map { $0[i] }.max()! } }
}
