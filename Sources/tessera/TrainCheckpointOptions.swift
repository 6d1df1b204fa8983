import ArgumentParser
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

    func apply(to c: inout TrainingConfiguration) {
        c.checkpoint = .init(directory: directory, every: every, keep: keep, resume: resume)
    }
}
