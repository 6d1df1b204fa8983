import Foundation
import TesseraModels
import TesseraParallel

/// What a checkpoint records of the run's inputs, so a resume can tell when they changed.
struct CheckpointIdentity: Sendable {
    var tokenizer: CheckpointManifest.TokenizerIdentity
    /// Bytes of the training text and their ``ContentHash`` (hexadecimal).
    var dataSize: Int
    var dataChecksum: String
}

extension TrainingJob {
    /// The identity checkpoints record (`nil` when the run neither saves nor resumes) and the checkpoint to
    /// resume from, opened, validated and checked against this run.
    /// - Throws: ``CheckpointError`` for a damaged checkpoint or one of another model, tokenizer, data or batch
    ///   shape; ``TrainingError/invalidOption(option:reason:)`` when the steps are not past the checkpoint.
    static func checkpointing(_ configuration: TrainingConfiguration, model: TransformerConfig,
                              tokenizer: TokenizerChoice) throws -> (CheckpointIdentity?, Checkpoint?) {
        let options = configuration.checkpoint
        guard options.directory != nil || options.resume != nil else { return (nil, nil) }
        let bytes = try TokenCache.readFile(configuration.data.path)
        let identity = CheckpointIdentity(tokenizer: .init(name: tokenizer.name, fingerprint: try tokenizer.fingerprint()),
                                          dataSize: bytes.count,
                                          dataChecksum: String(bytes.withUnsafeBytes { ContentHash.of($0) }, radix: 16))
        guard let resume = options.resume else { return (identity, nil) }
        let checkpoint = try Checkpoint(path: resume)
        try checkpoint.check(against: configuration, model: model, identity: identity)
        return (identity, checkpoint)
    }
}

extension Checkpoint {
    /// Checks that `configuration` continues this checkpoint's run: the same model, tokenizer, training text,
    /// sequence length and global batch (the data position depends on them), and a total of steps past it.
    /// The layout, schedule, micro-batch size and backend may all differ.
    func check(against configuration: TrainingConfiguration, model: TransformerConfig, identity: CheckpointIdentity) throws {
        let saved = manifest.training
        let savedModel = saved.model.initialCheckpoint ?? saved.model.config
        guard manifest.model == model.huggingFaceJSON else {
            let count = (try? manifest.modelConfig()).map { "\($0.parameterCount)" } ?? "?"
            throw CheckpointError.mismatch(what: "the model", checkpoint: "\(savedModel), \(count) parameters",
                                           run: "\(configuration.model.initialCheckpoint ?? configuration.model.config), \(model.parameterCount) parameters",
                                           fix: "pass \(setting: .config, saved.model.config)"
                                               + (saved.model.initialCheckpoint.map { " \(setting: .initialCheckpoint, $0)" } ?? ""))
        }
        guard manifest.tokenizer.fingerprint == identity.tokenizer.fingerprint else {
            throw CheckpointError.mismatch(what: "the tokenizer", checkpoint: manifest.tokenizer.name, run: identity.tokenizer.name,
                                           fix: "pass \(setting: .tokenizer, saved.data.tokenizer)")
        }
        let data = manifest.data
        guard data.size == identity.dataSize && data.checksum == identity.dataChecksum else {
            throw CheckpointError.mismatch(what: "the data file \(configuration.data.path)",
                                           checkpoint: "\(data.path): \(data.size) bytes, checksum \(data.checksum)",
                                           run: "\(identity.dataSize) bytes, checksum \(identity.dataChecksum)",
                                           fix: "it changed since the save; restore the text the run was trained on or start a fresh run")
        }
        for (setting, old, new) in [(TrainingSetting.sequenceLength, saved.data.sequenceLength, configuration.data.sequenceLength),
                                    (.globalBatchSize, saved.batch.globalBatchSize, configuration.batch.globalBatchSize)] where old != new {
            throw CheckpointError.mismatch(what: "\(name: setting)", checkpoint: "\(old)", run: "\(new)",
                                           fix: "pass \(setting: setting, old): the data position depends on it")
        }
        guard configuration.steps > manifest.step else {
            throw TrainingError.invalid(.steps, "\(configuration.steps) is not past the checkpoint's step \(manifest.step);"
                                        + " \(name: .steps) is the total, pass more than \(manifest.step)")
        }
    }
}
