import TesseraParallel

extension TrainingConfiguration {
    /// Distributed checkpoints: where they go, how often, how many are kept, and which one a run resumes from.
    public struct Checkpointing: Sendable, Hashable, Codable {
        /// The checkpoint root (`--checkpoint-dir`): `step-NNNNNNN/` directories and `latest`. `nil`: none written.
        public var directory: String?
        /// Save every this many steps (`--checkpoint-every`); the last step is always saved. 0: only the last.
        public var every: Int
        /// Complete checkpoints kept (`--keep-checkpoints`); older ones are removed once a newer one is complete.
        public var keep: Int
        /// A checkpoint or a checkpoint root to resume from (`--resume`); `nil`: a fresh start.
        public var resume: String?
        /// Write checkpoints on a background thread from a snapshot in memory (`--checkpoint-async`).
        public var isAsynchronous: Bool

        public init(directory: String? = nil, every: Int = 0, keep: Int = 3, resume: String? = nil, isAsynchronous: Bool = false) {
            self.directory = directory
            self.every = every
            self.keep = keep
            self.resume = resume
            self.isAsynchronous = isAsynchronous
        }

        /// - Throws: ``TrainingError/invalidOption(option:reason:)`` naming the setting to change.
        func validate() throws {
            guard every >= 0 else { throw TrainingError.invalid(.checkpointEvery, "\(every) must not be negative") }
            try TrainingError.requireAtLeastOne(keep, option: TrainingSetting.keepCheckpoints.name)
            if every > 0 && directory == nil {
                throw TrainingError.invalid(.checkpointEvery, "needs \(name: .checkpointDirectory) to say where checkpoints go")
            }
        }

        /// Whether step `step` of a run of `steps` ends with a checkpoint.
        public func isDue(step: Int, of steps: Int) -> Bool {
            directory != nil && (step == steps || (every > 0 && step % every == 0))
        }
    }
}
