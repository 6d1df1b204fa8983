import TesseraModels
import TesseraNN
import TesseraParallel

/// Everything a training run needs to know, as one nested value: the CLI maps its flags onto it, a run can be
/// described in JSON, and each concern (model, data, batch, optimizer, parallelism, output) has its own group
/// so new options (pipeline and data parallelism, ZeRO, recomputation, traces) land in the group they belong to.
public struct TrainingConfiguration: Sendable, Hashable, Codable {
    /// Which model to train.
    public struct Model: Sendable, Hashable, Codable {
        /// A preset name (`tiny`, `demo`, `gpt2-small`, …) or a path to a `config.json` or model directory, for a
        /// freshly initialized model. Ignored when ``initialCheckpoint`` is set.
        public var config: String
        /// A checkpoint to start from (a Hugging Face directory or a `.gguf` file); its architecture and its
        /// tokenizer win over ``config`` and ``Data/tokenizer``.
        public var initialCheckpoint: String?

        public init(config: String = "demo", initialCheckpoint: String? = nil) {
            self.config = config
            self.initialCheckpoint = initialCheckpoint
        }
    }

    /// The text to train on and how it becomes tokens.
    public struct Data: Sendable, Hashable, Codable {
        /// A UTF-8 text file.
        public var path: String
        /// `byte`, `gpt2`, or a path to a tokenizer (`tokenizer.json`, a directory, a `.gguf`).
        public var tokenizer: String
        /// `T`: tokens per sequence.
        public var sequenceLength: Int
        /// Where token-id caches go (`nil`: beside the text).
        public var cacheDirectory: String?

        /// The tokenizer used when none is named.
        public static let defaultTokenizer = "byte"

        public init(path: String, tokenizer: String = defaultTokenizer, sequenceLength: Int = 128, cacheDirectory: String? = nil) {
            self.path = path
            self.tokenizer = tokenizer
            self.sequenceLength = sequenceLength
            self.cacheDirectory = cacheDirectory
        }
    }

    /// The batch of one optimizer step (see ``BatchLayout`` for how it is divided; the micro-batch size is
    /// part of the layout, ``ParallelConfig/microBatchSize``).
    public struct Batch: Sendable, Hashable, Codable {
        /// `G`: sequences per optimizer step over all ranks.
        public var globalBatchSize: Int

        public init(globalBatchSize: Int = 8) {
            self.globalBatchSize = globalBatchSize
        }
    }

    /// AdamW, its learning-rate schedule and gradient clipping.
    public struct Optimizer: Sendable, Hashable, Codable {
        /// Peak learning rate (reached after warm-up).
        public var learningRate: Float
        /// The floor a cosine schedule decays to by the last step.
        public var minLearningRate: Float
        /// Steps of linear warm-up from 0 to ``learningRate``.
        public var warmupSteps: Int
        public var schedule: LearningRateSchedule.Kind
        /// β₁, β₂, ε and the decoupled weight decay (on parameters with two or more dimensions).
        public var adamW: AdamWConfiguration
        /// Clip the global gradient norm to this (`nil` or 0: no clipping; the norm is reported either way).
        public var gradientClip: Float?

        public init(learningRate: Float = 1e-3, minLearningRate: Float = 1e-4, warmupSteps: Int = 0,
                    schedule: LearningRateSchedule.Kind = .cosine,
                    adamW: AdamWConfiguration = AdamWConfiguration(beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1),
                    gradientClip: Float? = 1.0) {
            self.learningRate = learningRate
            self.minLearningRate = minLearningRate
            self.warmupSteps = warmupSteps
            self.schedule = schedule
            self.adamW = adamW
            self.gradientClip = gradientClip
        }

        /// The schedule over a run of `steps` optimizer steps.
        public func learningRateSchedule(steps: Int) -> LearningRateSchedule {
            LearningRateSchedule(kind: schedule, maxLearningRate: learningRate, minLearningRate: minLearningRate,
                                 warmupSteps: warmupSteps, totalSteps: steps)
        }
    }

    /// What the run writes.
    public struct Output: Sendable, Hashable, Codable {
        /// A Hugging Face directory written at the end (config.json, model.safetensors, tokenizer files).
        public var saveDirectory: String?
        /// A JSON-lines file with one ``StepMetrics`` object per optimizer step.
        public var metricsPath: String?
        /// A Chrome/Perfetto trace of every rank's forward, backward and communication spans.
        public var tracePath: String?

        public init(saveDirectory: String? = nil, metricsPath: String? = nil, tracePath: String? = nil) {
            self.saveDirectory = saveDirectory
            self.metricsPath = metricsPath
            self.tracePath = tracePath
        }
    }

    public var model: Model
    public var data: Data
    public var batch: Batch
    public var optimizer: Optimizer
    /// How the model is split over ranks (dp × pp × tp, the schedule, the micro-batch size `b`, recomputation
    /// and ZeRO); the product of the axes is the number of ranks.
    public var parallelism: ParallelConfig
    public var output: Output
    public var checkpoint: Checkpointing
    /// Optimizer steps to take (the total: a resumed run continues to it).
    public var steps: Int
    /// Seeds the initialization (values depend only on seed, parameter name and element index).
    public var seed: UInt64

    public init(model: Model = Model(), data: Data, batch: Batch = Batch(), optimizer: Optimizer = Optimizer(),
                parallelism: ParallelConfig = .singleDevice, output: Output = Output(), checkpoint: Checkpointing = Checkpointing(),
                steps: Int = 100, seed: UInt64 = 0) {
        self.model = model
        self.data = data
        self.batch = batch
        self.optimizer = optimizer
        self.parallelism = parallelism
        self.output = output
        self.checkpoint = checkpoint
        self.steps = steps
        self.seed = seed
    }

    /// Checks the options against each other (model-specific checks happen when the model is built).
    /// - Throws: ``TrainingError/invalidOption(option:reason:)`` naming the setting to change.
    public func validate() throws {
        func require(_ condition: Bool, _ option: TrainingSetting, _ reason: @autoclosure () -> SettingText) throws {
            if !condition { throw TrainingError.invalid(option, reason()) }
        }
        try TrainingError.requireAtLeastOne(steps, option: TrainingSetting.steps.name)
        try TrainingError.requireAtLeastOne(data.sequenceLength, option: TrainingSetting.sequenceLength.name)
        try parallelism.validate()
        try checkpoint.validate()
        _ = try BatchLayout(globalBatchSize: batch.globalBatchSize, microBatchSize: parallelism.microBatchSize,
                            dataParallelSize: parallelism.dp)
        try parallelism.validate(globalBatchSize: batch.globalBatchSize, sequenceLength: data.sequenceLength)
        let o = optimizer
        try require(o.learningRate > 0 && o.learningRate.isFinite, .learningRate, "\(o.learningRate) must be positive")
        try require(o.minLearningRate >= 0 && o.minLearningRate <= o.learningRate, .minLearningRate,
                    "\(o.minLearningRate) must lie between 0 and \(name: .learningRate) (\(o.learningRate))")
        try require(o.warmupSteps >= 0, .warmupSteps, "\(o.warmupSteps) must not be negative")
        let a = o.adamW
        try require(a.weightDecay >= 0, .weightDecay, "\(a.weightDecay) must not be negative")
        try require((0..<1).contains(a.beta1), .beta1, "\(a.beta1) must lie in [0, 1)")
        try require((0..<1).contains(a.beta2), .beta2, "\(a.beta2) must lie in [0, 1)")
        try require(a.epsilon > 0, .epsilon, "\(a.epsilon) must be positive")
        try require((o.gradientClip ?? 0) >= 0, .gradientClip, "\(o.gradientClip ?? 0) must not be negative (0 turns clipping off)")
    }

    /// ``validate()``, then the checks against the model: the layout must split it and a sequence must fit its context.
    /// - Throws: ``TrainingError/invalidOption(option:reason:)``; ``ParallelConfigError`` naming the valid choices.
    public func validate(for model: TransformerConfig) throws {
        try validate()
        try parallelism.validate(model: model)
        let context = model.contextLength
        guard data.sequenceLength <= context else {
            throw TrainingError.invalid(.sequenceLength, "\(data.sequenceLength) exceeds the model's context of \(context) tokens;"
                                        + " use \(name: .sequenceLength) ≤ \(context)")
        }
    }
}
