import CIntrinsics
import Foundation
import TesseraModels
import TesseraNN
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
    /// - Parameter buffers: copy everything into these (kept for the next save); `nil`: copy only the sharded
    ///   weights, which must be gathered, into new memory and read the rest in place.
    init(engine: MeshEngine, into buffers: SnapshotBuffers?) throws {
        let inPlace = buffers == nil
        storage = buffers ?? SnapshotBuffers()
        storage.weights.reserve(engine.weightImageCount(inPlace: inPlace))
        weights = try engine.weightsToSave(into: storage.weights.pointer, scratch: storage.scratch, inPlace: inPlace)
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

/// One rank's background checkpoint writer (`--checkpoint-async`): ``save(_:step:)`` snapshots the rank's state
/// in memory and returns; a background thread writes the files, and the first rank's thread, once every rank's
/// record is on disk, commits the checkpoint exactly as a synchronous save does. One save is in flight at a time:
/// the next one (and ``wait()``, at the end of the run) waits for it and rethrows its error.
public final class AsyncCheckpointWriter: @unchecked Sendable {
    public let job: TrainingJob
    /// How long the first rank waits for the other ranks' files before it gives the save up.
    public var deadline: Duration = .seconds(600)
    private var inFlight: DispatchSemaphore?
    private var failure: (any Error)?
    private let buffers = SnapshotBuffers()

    public init(job: TrainingJob) {
        self.job = job
    }

    /// Waits for the save in flight, snapshots `trainer`'s state after step `step` (a collective: every rank
    /// calls it) and starts writing it in the background.
    /// - Throws: the previous save's error; ``TrainingError/unwritable(path:reason:)``; ``CollectiveError``.
    public func save(_ trainer: Trainer, step: Int) throws {
        try wait()
        guard let staging = try job.beginCheckpoint(trainer, step: step) else { return }
        let snapshot = try CheckpointSnapshot(engine: trainer.engine, into: buffers)
        let rank = trainer.engine.groups?.world.rank ?? 0, ranks = trainer.engine.groups?.world.size ?? 1
        let learningRate = trainer.schedule.learningRate(atStep: step)
        let done = DispatchSemaphore(value: 0)
        inFlight = done
        let thread = Thread { [self] in
            Self.lowerPriority()
            do {
                try job.writeRank(snapshot, rank: rank, into: staging)
                if rank == 0 {
                    try waitForRecords(ranks: ranks, in: staging)
                    try job.commitCheckpoint(staging, step: step, learningRate: learningRate, ranks: ranks)
                }
            } catch {
                failure = error
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

    /// Polls until every rank's record exists (each is renamed into place whole, after that rank's files).
    private func waitForRecords(ranks: Int, in staging: String) throws {
        let start = ContinuousClock.now
        for rank in 0..<ranks {
            while !FileManager.default.fileExists(atPath: TrainingJob.recordPath(rank: rank, in: staging)) {
                guard ContinuousClock.now - start < deadline else {
                    throw TrainingError.unwritable(path: staging, reason: "rank \(rank) did not write its part of the checkpoint within \(deadline)")
                }
                Thread.sleep(forTimeInterval: 0.005)
            }
        }
    }
}
