import CIntrinsics
import Foundation
import TesseraFiles
import TesseraModels
import TesseraNN
import TesseraParallel
import TesseraTensor

/// What one rank writes into a checkpoint: its share of the full weights and its AdamW moment pieces, either
/// read in place from the engine where it can (a synchronous save) or copied into ``SnapshotBuffers`` (an
/// asynchronous one, while training goes on).
struct CheckpointSnapshot: @unchecked Sendable {
    let weights: [SavedTensor]
    let moments: [MomentPiece]
    /// The memory `weights` and `moments` point into, besides the engine's.
    private let storage: SnapshotBuffers

    /// Takes this rank's share (a collective over the tensor group: sharded weights are gathered).
    /// - Parameters:
    ///   - buffers: copy everything into these (kept for the next save); `nil`: copy only the sharded weights,
    ///     which must be gathered, into new memory and read the rest in place.
    ///   - tp: the tensor group to gather over (default: the layers', used by the training thread).
    init(engine: MeshEngine, into buffers: SnapshotBuffers?, over tp: AxisGroup? = nil) throws {
        let inPlace = buffers == nil
        storage = buffers ?? SnapshotBuffers()
        storage.weights.reserve(engine.weightImageCount(inPlace: inPlace))
        weights = try engine.weightsToSave(into: storage.weights.pointer, scratch: storage.scratch, inPlace: inPlace, over: tp)
        let pieces = engine.momentsToSave
        guard !inPlace else {
            moments = pieces
            return
        }
        let count = pieces.reduce(0) { $0 + $1.localRange.count }
        storage.moments.reserve(2 * count)
        let first = storage.moments.pointer, second = first + count
        var offset = 0
        moments = pieces.map { piece in
            defer { offset += piece.localRange.count }
            (first + offset).update(from: piece.first.baseAddress!, count: piece.localRange.count)
            (second + offset).update(from: piece.second.baseAddress!, count: piece.localRange.count)
            return MomentPiece(spec: piece.spec, localRange: piece.localRange,
                               first: UnsafeBufferPointer(start: first + offset, count: piece.localRange.count),
                               second: UnsafeBufferPointer(start: second + offset, count: piece.localRange.count))
        }
    }
}

/// The memory a rank's snapshots are copied into, reused from one save to the next so that a snapshot is one
/// pass of copies at memory speed (no allocation, no page faults after the first save).
final class SnapshotBuffers: @unchecked Sendable {
    /// The full weights this rank writes, one after another.
    let weights = FloatBuffer(count: 0)
    /// The moment pieces: every first moment, then every second moment.
    let moments = FloatBuffer(count: 0)
    /// The shards of one tensor while it is gathered.
    let scratch = FloatBuffer(count: 0)
}

/// One rank's background checkpoint writer (`--checkpoint-async`). ``save(_:step:)`` returns after the staging
/// directory exists; a background thread then copies the rank's state into memory while the next forward and
/// backward run (they only read parameters and moments; the engine's next optimizer update waits for the copy
/// through a ``StateReadFence``), writes the files from that copy, and on the first rank, once every rank's record
/// is on disk, commits the checkpoint exactly as a synchronous save does. One save is in flight at a time: the
/// next one (and ``wait()``, which a run must call before it ends or rethrows) waits for it and rethrows its error.
///
/// The copy gathers the sharded weights over a tensor group of its own, split from the layers' on the first save,
/// so its collectives never interleave with the training thread's.
public final class AsyncCheckpointWriter: @unchecked Sendable {
    public let job: TrainingJob
    /// How long the first rank waits for the other ranks' files before it gives the save up.
    public var deadline: Duration = .seconds(600)
    /// How long the background thread waits before it copies: zero, except in tests, where it holds the copy back
    /// past the next step's forward and backward so that an update that did not wait for it would be caught.
    public var snapshotDelay: Duration = .zero
    private var inFlight: DispatchSemaphore?
    private var failure: (any Error)?
    private let buffers = SnapshotBuffers()
    /// The background thread's tensor group, split once from the engine's (`nil` before the first save).
    private var tensorGroup: AxisGroup?

    public init(job: TrainingJob) {
        self.job = job
    }

    /// Waits for the save in flight, prepares the save of `trainer`'s state after step `step` (a collective:
    /// every rank calls it) and starts its snapshot and write in the background.
    /// - Throws: the previous save's error; ``TrainingError/unwritable(path:reason:)``; ``CollectiveError``.
    public func save(_ trainer: Trainer, step: Int) throws {
        try wait()
        guard let staging = try job.beginCheckpoint(trainer, step: step) else { return }
        let engine = trainer.engine
        let tp = try tensorGroup ?? AxisGroup(engine.model.context.tp.group?.split(color: 0, key: engine.model.context.tp.rank, name: "tp (checkpoint)"))
        tensorGroup = tp
        let rank = engine.groups?.world.rank ?? 0, ranks = engine.groups?.world.size ?? 1
        let learningRate = trainer.schedule.learningRate(atStep: step)
        let copied = StateReadFence(), done = DispatchSemaphore(value: 0)
        engine.pendingStateRead = copied
        inFlight = done
        // The thread holds the engine, so the memory it reads outlives a run that ends or fails meanwhile.
        let thread = Thread { [self, snapshotDelay] in
            do {
                let snapshot: CheckpointSnapshot
                do {
                    defer { copied.release() }
                    if snapshotDelay > .zero { Thread.sleep(forTimeInterval: snapshotDelay / .seconds(1)) }
                    snapshot = try CheckpointSnapshot(engine: engine, into: buffers, over: tp)
                }
                // The copy holds the next update up and runs at full priority; the write only competes for the cores.
                Self.lowerPriority()
                try job.writeRank(snapshot, rank: rank, into: staging)
                if rank == 0 {
                    try waitForRecords(ranks: ranks, in: staging)
                    try job.commitCheckpoint(staging, step: step, learningRate: learningRate, ranks: ranks)
                }
            } catch {
                failure = error
                // The first rank stops waiting for this rank's files when it sees this.
                if rank != 0 { try? AtomicWrite.write(Array("\(error)".utf8), to: Self.failurePath(rank: rank, in: staging)) }
            }
            done.signal()
        }
        thread.start()
    }

    /// Waits for the save in flight, if any.
    /// - Throws: its error.
    public func wait() throws {
        guard let inFlight else { return }
        inFlight.wait()
        self.inFlight = nil
        if let failure {
            self.failure = nil
            throw failure
        }
    }

    /// Lowers the calling thread's scheduling priority (nice 10 on Linux, where each thread has its own; the
    /// utility class elsewhere), so the background write yields the cores to training.
    private static func lowerPriority() {
        #if os(Linux)
        tessera_lower_thread_priority(10)
        #else
        Thread.current.qualityOfService = .utility
        #endif
    }

    /// Where rank `rank` notes why its part of a save failed.
    private static func failurePath(rank: Int, in staging: String) -> String {
        TrainingJob.recordPath(rank: rank, in: staging) + ".failed"
    }

    /// Polls until every rank's record exists (each is renamed into place whole, after that rank's files); gives
    /// up when a rank notes that its part failed, or after ``deadline``.
    private func waitForRecords(ranks: Int, in staging: String) throws {
        let start = ContinuousClock.now
        for rank in 0..<ranks {
            while !FileManager.default.fileExists(atPath: TrainingJob.recordPath(rank: rank, in: staging)) {
                if let reason = FileManager.default.contents(atPath: Self.failurePath(rank: rank, in: staging)) {
                    throw TrainingError.unwritable(path: staging, reason: "rank \(rank) could not write its part of the checkpoint: \(String(decoding: reason, as: UTF8.self))")
                }
                guard ContinuousClock.now - start < deadline else {
                    throw TrainingError.unwritable(path: staging, reason: "rank \(rank) did not write its part of the checkpoint within \(deadline)")
                }
                Thread.sleep(forTimeInterval: 0.005)
            }
        }
    }
}
