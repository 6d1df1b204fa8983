import Foundation
import TesseraModels
import TesseraNN
import TesseraTensor

/// What one rank writes into a checkpoint: its share of the full weights and its AdamW moment pieces, either
/// read in place from the engine (a synchronous save) or copied (an asynchronous one, while training goes on).
struct CheckpointSnapshot: @unchecked Sendable {
    let weights: [(name: String, tensor: Tensor)]
    let moments: [MomentPiece]
    /// The copies `moments` point into (empty when they point into the engine).
    private let storage: [FloatBuffer]

    /// Takes this rank's share (``MeshEngine/weightsToSave()`` is a collective over the tensor group).
    /// - Parameter copying: copy the moments, so the engine may step on while the snapshot is written.
    init(engine: MeshEngine, copying: Bool) throws {
        weights = try engine.weightsToSave()
        let pieces = engine.momentsToSave
        guard copying else {
            moments = pieces
            storage = []
            return
        }
        let count = pieces.reduce(0) { $0 + $1.localRange.count }
        let first = FloatBuffer(count: count), second = FloatBuffer(count: count)
        var offset = 0
        moments = pieces.map { piece in
            defer { offset += piece.localRange.count }
            (first.pointer + offset).update(from: piece.first.baseAddress!, count: piece.localRange.count)
            (second.pointer + offset).update(from: piece.second.baseAddress!, count: piece.localRange.count)
            return MomentPiece(spec: piece.spec, localRange: piece.localRange,
                               first: UnsafeBufferPointer(start: first.pointer + offset, count: piece.localRange.count),
                               second: UnsafeBufferPointer(start: second.pointer + offset, count: piece.localRange.count))
        }
        storage = [first, second]
    }
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

    public init(job: TrainingJob) {
        self.job = job
    }

    /// Waits for the save in flight, snapshots `trainer`'s state after step `step` (a collective: every rank
    /// calls it) and starts writing it in the background.
    /// - Throws: the previous save's error; ``TrainingError/unwritable(path:reason:)``; ``CollectiveError``.
    public func save(_ trainer: Trainer, step: Int) throws {
        try wait()
        guard let staging = try job.beginCheckpoint(trainer, step: step) else { return }
        let snapshot = try CheckpointSnapshot(engine: trainer.engine, copying: true)
        let rank = trainer.engine.groups?.world.rank ?? 0, ranks = trainer.engine.groups?.world.size ?? 1
        let learningRate = trainer.schedule.learningRate(atStep: step)
        let done = DispatchSemaphore(value: 0)
        inFlight = done
        let thread = Thread { [self] in
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
