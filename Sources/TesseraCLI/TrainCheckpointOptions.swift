import ArgumentParser
import TesseraModels
import TesseraTrain

/// The checkpoint flags of `tessera train` (``TrainingConfiguration/Checkpointing``).
struct TrainCheckpointOptions: ParsableArguments {
    @Option(name: .customLong("checkpoint-dir"), help: "Save distributed checkpoints here (step-NNNNNNN/ directories and a latest link); the last step is always saved.")
    var directory: String?

    @Option(name: .customLong("checkpoint-every"), help: "Save a checkpoint every N steps (0: only after the last step).")
    var every = 0

    @Option(name: .customLong("keep-checkpoints"), help: "Keep the newest K complete checkpoints.")
    var keep = 3

    @Option(help: "Resume from a checkpoint (a step-NNNNNNN directory, or a --checkpoint-dir root for its latest) on any layout; --steps is the total.")
    var resume: String?

    @Flag(name: .customLong("checkpoint-async"), help: "Write checkpoints on a background thread from a snapshot in memory while training goes on.")
    var isAsynchronous = false

    func apply(to c: inout TrainingConfiguration) {
        c.checkpoint = .init(directory: directory, every: every, keep: keep, resume: resume, isAsynchronous: isAsynchronous)
    }
}

/// One rank's checkpoint saves during `tessera train`: after each step that is due, synchronously or through an
/// ``AsyncCheckpointWriter``, and the seconds training paused for them.
final class CheckpointSaves {
    let job: TrainingJob
    private let background: AsyncCheckpointWriter?
    private var pauses: [Double] = []
    private var lastStep: Int?

    init(job: TrainingJob) {
        self.job = job
        background = job.configuration.checkpoint.isAsynchronous ? AsyncCheckpointWriter(job: job) : nil
    }

    /// Saves after `step` when it is due.
    func afterStep(_ step: Int, trainer: Trainer) throws {
        let c = job.configuration
        guard c.checkpoint.isDue(step: step, of: c.steps) else { return }
        let start = ContinuousClock.now
        if let background { try background.save(trainer, step: step) } else { try job.saveCheckpoint(trainer, step: step) }
        pauses.append((ContinuousClock.now - start) / .seconds(1))
        lastStep = step
    }

    /// Waits for a save still in flight and returns a line on the saves (`nil` without any), the pause put
    /// against `meanStepSeconds`: the time each save held the training thread, plus, for saves in the background,
    /// the time `engine`'s optimizer updates waited for their snapshots.
    func finish(meanStepSeconds: Double, engine: MeshEngine) throws -> String? {
        try background?.wait()
        guard let lastStep, let directory = job.configuration.checkpoint.directory else { return nil }
        let pause = (pauses.reduce(0, +) + engine.stateReadWaitSeconds) / Double(pauses.count)
        return "checkpoints: \(pauses.count) saved to \(directory) (latest \(CheckpointDirectory.name(step: lastStep)))"
            + (background == nil ? "" : " in the background") + "; training paused \(String(format: "%.3f", pause)) s per save"
            + " (\(String(format: "%.1f", 100 * pause / max(meanStepSeconds, 1e-9))) % of a step)"
    }

    /// Waits for a save still in flight when the run stops early (its error set aside for the one that stopped
    /// it), so a snapshot taken before a failure still reaches the disk before the process exits.
    func joinSaveInFlight() {
        try? background?.wait()
    }
}
