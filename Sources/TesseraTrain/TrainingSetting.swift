import TesseraParallel

/// A setting of training, evaluation or generation that an error can name. Library messages name it by its
/// ``name``, the property a caller sets; a front end words it in its own terms through a ``SettingVocabulary`` (the
/// CLI by its flag), as it does the ``LayoutParameter``s of ``ParallelConfig``.
public enum TrainingSetting: String, CaseIterable, Sendable {
    case steps, config, initialCheckpoint, data, tokenizer, sequenceLength, globalBatchSize
    case learningRate, minLearningRate, warmupSteps, weightDecay, beta1, beta2, epsilon, gradientClip
    case checkpointDirectory, checkpointEvery, keepCheckpoints
    case temperature, topK, topP
    case evaluationWindow, prompts

    /// The property path a library caller sets: `TrainingConfiguration.optimizer.learningRate`,
    /// `SamplingOptions.topP`, `Evaluation.evaluate(sequenceLength:)`, ….
    public var name: String {
        switch self {
        case .steps: return "TrainingConfiguration.steps"
        case .config: return "TrainingConfiguration.model.config"
        case .initialCheckpoint: return "TrainingConfiguration.model.initialCheckpoint"
        case .data: return "TrainingConfiguration.data.path"
        case .tokenizer: return "TrainingConfiguration.data.tokenizer"
        case .sequenceLength: return "TrainingConfiguration.data.sequenceLength"
        case .globalBatchSize: return "TrainingConfiguration.batch.globalBatchSize"
        case .learningRate, .minLearningRate, .warmupSteps, .gradientClip: return "TrainingConfiguration.optimizer.\(rawValue)"
        case .weightDecay, .beta1, .beta2, .epsilon: return "TrainingConfiguration.optimizer.adamW.\(rawValue)"
        case .checkpointDirectory: return "TrainingConfiguration.checkpoint.directory"
        case .checkpointEvery: return "TrainingConfiguration.checkpoint.every"
        case .keepCheckpoints: return "TrainingConfiguration.checkpoint.keep"
        case .temperature, .topK, .topP: return "SamplingOptions.\(rawValue)"
        case .evaluationWindow: return "Evaluation.evaluate(sequenceLength:)"
        case .prompts: return "Generator.generate(prompts:)"
        }
    }

    /// The setting whose ``name`` is `name` (nil for other names).
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }
}

extension SettingText.StringInterpolation {
    /// The training setting `name`.
    public mutating func appendInterpolation(name: TrainingSetting) { appendInterpolation(name: name.name) }

    /// The training setting `setting`, set to `value`.
    public mutating func appendInterpolation<Value>(setting: TrainingSetting, _ value: Value) {
        appendInterpolation(setting: setting.name, value)
    }
}
