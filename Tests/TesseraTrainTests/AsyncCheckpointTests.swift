import Foundation
import Testing
import TesseraCollectives
import TesseraParallel
import TesseraTrain

/// `--checkpoint-async`: the background save writes what a synchronous save writes, the update after it waits for
/// its snapshot, and a rank whose part fails stops the save at once on every rank.
@Suite(.serialized) struct AsyncCheckpointTests {
    let fixture = CheckpointFixture()

    /// `--checkpoint-async` writes the same files as a synchronous save, from a snapshot taken at the step.
    @Test func anAsynchronousSaveWritesTheSameCheckpoint() throws {
        let layout = try ParallelConfig(dp: 2, tp: 2, microBatchSize: 2, memory: .init(zeroStage: 1, bucketElements: 5000))
        let synchronous = fixture.newRoot(), background = fixture.newRoot()
        let reference = try CheckpointFixture.run(TrainingJob(configuration: fixture.configuration(layout, root: synchronous)))
        var configuration = fixture.configuration(layout, root: background)
        configuration.checkpoint.isAsynchronous = true
        #expect(try CheckpointFixture.run(TrainingJob(configuration: configuration)) == reference)
        for step in [2, 4] {
            let name = "/" + CheckpointDirectory.name(step: step)
            #expect(try Checkpoint(path: background + name).manifest.files == Checkpoint(path: synchronous + name).manifest.files)
        }
    }

    /// The optimizer update after an asynchronous save waits for the snapshot's copy: with the copy held back past
    /// the next step's forward and backward, the checkpoint still equals a synchronous save's. Not vacuous: an update
    /// that does not wait (the engine's fence dropped) changes the values before they are copied, and is caught.
    @Test func theUpdateAfterAnAsynchronousSaveWaitsForItsSnapshot() throws {
        let layout = try ParallelConfig(dp: 2, tp: 2, microBatchSize: 2, memory: .init(zeroStage: 1, bucketElements: 5000))
        let synchronous = fixture.newRoot()
        _ = try CheckpointFixture.run(TrainingJob(configuration: fixture.configuration(layout, root: synchronous)))
        let reference = try Checkpoint(path: synchronous + "/" + CheckpointDirectory.name(step: 2)).manifest.files
        func savedFiles(dropsFence: Bool) throws -> [CheckpointManifest.File] {
            let root = fixture.newRoot()
            let job = try TrainingJob(configuration: fixture.configuration(layout, root: root))
            _ = try ThreadGroup.run(ranks: job.ranks, deadline: .seconds(60)) { world in
                let trainer = try job.makeTrainer(world: world)
                let writer = AsyncCheckpointWriter(job: job)
                writer.snapshotDelay = .milliseconds(500)
                for step in 1...3 {
                    _ = try trainer.step(step)
                    guard step == 2 else { continue }
                    try writer.save(trainer, step: step)
                    if dropsFence { trainer.engine.pendingStateRead = nil }
                }
                try writer.wait()
            }
            return try Checkpoint(path: root).manifest.files
        }
        #expect(try savedFiles(dropsFence: false) == reference)
        #expect(try savedFiles(dropsFence: true) != reference)
    }

    /// A rank whose part of the save fails (here its weights file cannot be renamed into place) notes it, and the
    /// first rank gives the save up at once, naming that rank, instead of waiting out its deadline.
    @Test func aRankWhoseWriteFailsStopsTheSaveAtOnce() throws {
        let root = fixture.newRoot()
        let job = try TrainingJob(configuration: fixture.configuration(try ParallelConfig(dp: 2, microBatchSize: 2), root: root))
        let start = ContinuousClock.now
        let errors = try ThreadGroup.run(ranks: 2, deadline: .seconds(60)) { world -> String? in
            let trainer = try job.makeTrainer(world: world)
            let writer = AsyncCheckpointWriter(job: job)
            writer.snapshotDelay = .milliseconds(300)
            _ = try trainer.step(1)
            try writer.save(trainer, step: 1)
            if world.rank == 1 {
                let staging = root + "/" + CheckpointDirectory.name(step: 1) + ".partial"
                try FileManager.default.createDirectory(atPath: staging + "/model-rank-00001.safetensors/blocked", withIntermediateDirectories: true)
            }
            do {
                try writer.wait()
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(ContinuousClock.now - start < .seconds(30))
        #expect(errors[1] != nil)
        #expect(errors[0]?.contains("rank 1 could not write its part of the checkpoint") == true, "\(errors)")
        #expect(CheckpointDirectory.checkpoints(in: root).isEmpty)
    }
}
