import Foundation
import Testing
import TesseraCollectives
import TesseraParallel
import TesseraTrain

/// Saving on one layout and resuming on another continues the uninterrupted run: bit for bit on the same
/// layout, within the mesh equivalence tolerance after a change (the reductions add in another order).
@Suite(.serialized) struct CheckpointResumeTests {
    let fixture: CheckpointFixture

    init() { fixture = CheckpointFixture() }

    /// Trains 4 steps on `saved` uninterrupted with a checkpoint after step 2, resumes it on `resumed` for steps 3
    /// and 4, and returns both runs' losses of steps 3 and 4.
    func resume(from saved: ParallelConfig, to resumed: ParallelConfig, config: String = "tiny",
                tamper: @escaping @Sendable (Trainer) -> Void = { _ in }) throws -> (reference: [Double], resumed: [Double]) {
        let root = fixture.newRoot()
        let reference = try CheckpointFixture.run(TrainingJob(configuration: fixture.configuration(saved, config: config, root: root)))
        let job = try TrainingJob(configuration: fixture.configuration(resumed, config: config, resume: root + "/" + CheckpointDirectory.name(step: 2)))
        #expect(job.resumeCheckpoint?.manifest.step == 2)
        let continued = try CheckpointFixture.run(job, tamper: tamper)
        return (Array(reference[2...]), continued)
    }

    @Test func resumingOnTheSameLayoutIsBitwise() throws {
        for layout in [try ParallelConfig(pp: 2, tp: 2, microBatchSize: 2),
                       try ParallelConfig(dp: 2, microBatchSize: 1, memory: .init(zeroStage: 1, bucketElements: 5000))] {
            let (reference, resumed) = try resume(from: layout, to: layout)
            #expect(resumed == reference, "\(layout)")
        }
    }

    @Test(arguments: [
        (try! ParallelConfig(pp: 2, tp: 2, microBatchSize: 2), try! ParallelConfig(dp: 2, microBatchSize: 2)),
        (try! ParallelConfig(dp: 2, microBatchSize: 1, memory: .init(zeroStage: 1, bucketElements: 5000)), try! ParallelConfig(tp: 2, microBatchSize: 4)),
        (try! ParallelConfig(pp: 2, microBatchSize: 1, pipeline: .init(schedule: .oneForwardOneBackward)), try! ParallelConfig(microBatchSize: 4)),
        (try! ParallelConfig(tp: 2, microBatchSize: 4), try! ParallelConfig(dp: 2, microBatchSize: 2, memory: .init(zeroStage: 1, bucketElements: 3000))),
        (try! ParallelConfig(tp: 2, sequenceParallel: true, microBatchSize: 2, memory: .init(recompute: .full)),
         try! ParallelConfig(pp: 2, microBatchSize: 1, pipeline: .init(schedule: .zeroBubbleH1))),
        // ZeRO 1 over dp × cp: every (dp, cp) rank writes its slice of the moments.
        (try! ParallelConfig(dp: 2, cp: 2, microBatchSize: 1, memory: .init(zeroStage: 1, bucketElements: 3000)), try! ParallelConfig(microBatchSize: 4)),
        // Uneven shards (4 heads, 256 vocabulary entries over tp = 3) resharded to even ones.
        (try! ParallelConfig(tp: 3, microBatchSize: 4), try! ParallelConfig(tp: 2, microBatchSize: 4)),
    ])
    func resumingOnAnotherLayoutContinuesTheRun(_ saved: ParallelConfig, _ resumed: ParallelConfig) throws {
        let (reference, continued) = try resume(from: saved, to: resumed)
        #expect(continued.count == 2)
        #expect(MeshHarness.maxRelativeDifference(continued, reference) < MeshTolerance.loss, "\(saved) → \(resumed)")
    }

    /// Expert parallelism: each rank of dp = 2, ep = 2 holds half of tiny-moe's experts and writes their weights
    /// and (one rank per expert-data-parallel group, or every rank's ZeRO-1 slice) their moments; one rank reads
    /// them all back, and the other way round.
    @Test(arguments: [
        (try! ParallelConfig(dp: 2, ep: 2, microBatchSize: 2), try! ParallelConfig(microBatchSize: 4)),
        (try! ParallelConfig(dp: 2, ep: 2, microBatchSize: 1, memory: .init(zeroStage: 1, bucketElements: 5000)), try! ParallelConfig(microBatchSize: 4)),
        (try! ParallelConfig(microBatchSize: 4), try! ParallelConfig(dp: 2, ep: 2, microBatchSize: 2)),
    ])
    func resumingAnExpertParallelRunContinuesIt(_ saved: ParallelConfig, _ resumed: ParallelConfig) throws {
        let (reference, continued) = try resume(from: saved, to: resumed, config: "tiny-moe")
        #expect(continued.count == 2)
        #expect(MeshHarness.maxRelativeDifference(continued, reference) < MeshTolerance.loss, "\(saved) → \(resumed)")
    }

    /// Context parallelism alone: cp = 2 (each rank half of every sequence) resumed on one rank.
    @Test func resumingAContextParallelRunOnOneRankContinuesIt() throws {
        let (reference, continued) = try resume(from: try ParallelConfig(cp: 2, microBatchSize: 4), to: try ParallelConfig(microBatchSize: 4))
        #expect(continued.count == 2)
        #expect(MeshHarness.maxRelativeDifference(continued, reference) < MeshTolerance.loss)
    }

    /// Not vacuous: resuming with the AdamW moments lost (the weights alone) leaves the tolerance far behind.
    @Test func losingTheMomentsIsCaught() throws {
        let layout = try ParallelConfig(dp: 2, microBatchSize: 2)
        let (reference, continued) = try resume(from: layout, to: layout) { trainer in
            for adam in trainer.engine.optimizer.optimizers {
                adam.firstMoments.zero()
                adam.secondMoments.zero()
            }
        }
        #expect(MeshHarness.maxRelativeDifference(continued, reference) > 100 * MeshTolerance.loss)
    }

    @Test func metricsContinueWithTheStepsAfterTheCheckpoint() throws {
        let root = fixture.newRoot()
        let layout = try ParallelConfig(microBatchSize: 4)
        _ = try CheckpointFixture.run(TrainingJob(configuration: fixture.configuration(layout, root: root)), through: 2)
        let trainer = try TrainingJob(configuration: fixture.configuration(layout, resume: root)).makeTrainer(world: nil)
        #expect(trainer.nextStep == 3)
        var steps: [Int] = []
        try trainer.run { steps.append($0.step) }
        #expect(steps == [3, 4])
    }
}

/// A text file, a scratch directory and the tiny Llama run the checkpoint tests share.
struct CheckpointFixture {
    let scratch = try! ScratchText(prefix: "tessera-checkpoint")
    var directory: String { scratch.directory }
    var text: String { scratch.text }

    /// A fresh checkpoint root inside the scratch directory.
    func newRoot() -> String { directory + "/checkpoints-\(UInt32.random(in: 0...UInt32.max))" }

    func configuration(_ parallel: ParallelConfig = .singleDevice, config: String = "tiny", tokenizer: String = "byte",
                       steps: Int = 4, root: String? = nil, every: Int = 2, keep: Int = 2, resume: String? = nil) -> TrainingConfiguration {
        TrainingConfiguration(
            model: .init(config: config), data: .init(path: text, tokenizer: tokenizer, sequenceLength: 16),
            batch: .init(globalBatchSize: 4), optimizer: .init(learningRate: 5e-3, warmupSteps: 1), parallelism: parallel,
            checkpoint: .init(directory: root, every: root == nil ? 0 : every, keep: keep, resume: resume), steps: steps, seed: 1)
    }

    /// Runs `job` on thread ranks from its next step through `last` (default: its total), saving checkpoints when
    /// due, and returns the losses; `tamper` runs on each rank's trainer before the first step.
    static func run(_ job: TrainingJob, through last: Int? = nil,
                    tamper: @escaping @Sendable (Trainer) -> Void = { _ in }) throws -> [Double] {
        let results = try ThreadGroup.run(ranks: job.ranks, deadline: .seconds(60)) { world -> [Double] in
            let trainer = try job.makeTrainer(world: job.ranks > 1 ? world : nil)
            tamper(trainer)
            let background = job.configuration.checkpoint.isAsynchronous ? AsyncCheckpointWriter(job: job) : nil
            var losses: [Double] = []
            for step in stride(from: trainer.nextStep, through: last ?? job.configuration.steps, by: 1) {
                losses.append(try trainer.step(step).loss)
                guard job.configuration.checkpoint.isDue(step: step, of: job.configuration.steps) else { continue }
                if let background { try background.save(trainer, step: step) } else { try job.saveCheckpoint(trainer, step: step) }
            }
            try background?.wait()
            return losses
        }
        return results[0]
    }
}
