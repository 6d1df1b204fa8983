import Foundation
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTensor

/// What a training job prepares once per process before its ranks start: the model's architecture (a preset, a
/// `config.json`, or the checkpoint given with `--init`), the tokenizer (the checkpoint's wins), and the tokenized,
/// checked training text. Every rank then builds its engine and trainer from it with ``makeTrainer(world:)``.
public struct TrainingJob: Sendable {
    public let configuration: TrainingConfiguration
    /// The architecture being trained.
    public let modelConfig: TransformerConfig
    /// The checkpoint the weights come from (`nil`: initialized from the seed).
    public let initialCheckpoint: ModelLocation?
    public let tokenizer: TokenizerChoice
    public let data: TrainingData
    /// Lines worth telling the user once (the id cache's status, a tokenizer the checkpoint overrode), naming
    /// settings by their library names (``SettingText/worded(_:)`` words them for a front end).
    public let notes: [SettingText]
    /// The checkpoint ``TrainingConfiguration/Checkpointing/resume`` names, opened and checked against this run (`nil`: a fresh start).
    public let resumeCheckpoint: Checkpoint?
    /// What checkpoints record of the tokenizer and the data (`nil` when the run neither saves nor resumes).
    let checkpointIdentity: CheckpointIdentity?

    /// Resolves the model and tokenizer and loads the data, cheapest checks first.
    /// - Throws: ``TrainingError`` (options, data, tokenizer, model path), ``ModelError`` (an unknown preset, a
    ///   configuration that does not split), format errors for damaged files.
    public init(configuration: TrainingConfiguration, gpt2Directory: String = TokenizerChoice.defaultGPT2Directory) throws {
        var notes: [SettingText] = []
        if let path = configuration.model.initialCheckpoint {
            let location = try ModelLocation(path: path)
            initialCheckpoint = location
            modelConfig = try location.config()
            tokenizer = try location.tokenizer()
            if configuration.data.tokenizer != TrainingConfiguration.Data.defaultTokenizer {
                notes.append("the tokenizer of \(path) is used; \(setting: .tokenizer, configuration.data.tokenizer) is ignored")
            }
        } else {
            initialCheckpoint = nil
            modelConfig = try TransformerConfig.named(configuration.model.config)
            tokenizer = try TokenizerChoice.named(configuration.data.tokenizer, gpt2Directory: gpt2Directory)
        }
        try configuration.validate(for: modelConfig)
        let path = configuration.data.path
        let (ids, status) = try tokenizer.ids(ofTextFile: path, cacheDirectory: configuration.data.cacheDirectory)
        switch status {
        case .hit: notes.append("\(path): \(ids.count) tokens (cached)")
        case let .rebuilt(reason): notes.append("\(path): tokenized into \(ids.count) tokens with \(tokenizer.name) (\(reason)); cached")
        case let .notWritten(reason): notes.append("\(path): tokenized into \(ids.count) tokens; the id cache was not written: \(reason)")
        }
        data = try TrainingData(path: path, ids: ids, sequenceLength: configuration.data.sequenceLength,
                                globalBatchSize: configuration.batch.globalBatchSize, vocabularySize: modelConfig.vocabularySize,
                                tokenizerName: tokenizer.name)
        (checkpointIdentity, resumeCheckpoint) = try Self.checkpointing(configuration, model: modelConfig, tokenizer: tokenizer)
        if let resumeCheckpoint { notes.append("resuming from \(resumeCheckpoint.path) after step \(resumeCheckpoint.manifest.step)") }
        self.configuration = configuration
        self.notes = notes
    }

    /// Ranks the layout needs.
    public var ranks: Int { configuration.parallelism.ranks }

    /// Builds this rank's engine (from the checkpoint being resumed, the initial checkpoint or the seed, its
    /// kernels on `computeThreads` threads: the rank's share of the cores) and trainer; every rank of `world` calls it.
    public func makeTrainer(world: (any Communicator)?, computeThreads: Int = 1) throws -> Trainer {
        let engine: MeshEngine
        if resumeCheckpoint != nil || initialCheckpoint != nil {
            let groups = try Trainer.processGroups(configuration.parallelism, world: world)
            engine = try MeshEngine(config: modelConfig, parallel: configuration.parallelism, groups: groups, seed: nil,
                                    optimizer: configuration.optimizer.adamW, backend: CPUBackend(pool: ComputePool(threads: computeThreads)))
            if let resumeCheckpoint {
                try resumeCheckpoint.restore(into: engine)
            } else {
                try initialCheckpoint!.loadWeights(into: engine.model)
            }
        } else {
            engine = try Trainer.makeEngine(configuration: configuration, config: modelConfig, world: world,
                                            computeThreads: computeThreads)
        }
        return try Trainer(configuration: configuration, engine: engine, data: data)
    }

    /// Writes the trained model as one Hugging Face directory whatever the layout (every rank calls it; the first
    /// rank writes): config.json, model.safetensors and the tokenizer's files (a GGUF's tokenizer as tokenizer.json).
    public func save(_ engine: MeshEngine, toDirectory directory: String, world: (any Communicator)?) throws {
        try engine.save(toDirectory: directory)
        guard (world?.rank ?? 0) == 0 else { return }
        try tokenizer.save(toDirectory: directory)
    }
}
