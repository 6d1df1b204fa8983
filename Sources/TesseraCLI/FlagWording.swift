import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraPlanner
import TesseraTrain

/// Library errors name settings by their property (`memory.zeroStage = 2`, `TrainingConfiguration.optimizer.learningRate`);
/// the CLI reports them with its flags (`--zero-stage 2`, `--lr`). This is the one place that maps the one to the other.
struct FlagWordedError: Error, CustomStringConvertible {
    var description: String

    /// `error` worded with the flags where it names a setting; any other error unchanged.
    static func wording(_ error: any Error) -> any Error {
        switch error {
        case let layout as ParallelConfigError: return FlagWordedError(description: layout.message(naming: .flags))
        case let training as TrainingError: return FlagWordedError(description: training.message(naming: .flags))
        case let checkpoint as CheckpointError: return FlagWordedError(description: checkpoint.message(naming: .flags))
        case let collective as CollectiveError:
            return FlagWordedError(description: collective.message(timeoutSetting: "the deadline with --collective-timeout"))
        case let model as ModelError: return FlagWordedError(description: model.message(replaceOption: "--force"))
        case let planner as PlannerError: return FlagWordedError(description: planner.message(catalogOption: "--catalog FILE"))
        default: return error
        }
    }
}

extension SettingVocabulary {
    /// The CLI's flags: `--zero-stage`, and `--zero-stage 2` with a value; a name that is no library setting (a
    /// CLI-only option the CLI names itself) stays as it is.
    static let flags = SettingVocabulary(name: flag(for:), setting: { "\(flag(for: $0)) \($1)" })

    private static func flag(for name: String) -> String {
        LayoutParameter(name: name)?.flag ?? TrainingSetting(name: name)?.flag ?? plannerFlags[name] ?? name
    }

    /// The `tessera plan` flags of the planner's job settings its suggestions name.
    private static let plannerFlags = [
        "TrainingJob.devices": "--gpus", "TrainingJob.sequenceLength": "--seq-len", "ServingJob.devices": "--gpus",
        "ServingJob.weightFormat": "--quantization", "ServingJob.contextLength": "--context",
        "ServingJob.batchSize": "--batch",
    ]
}

extension LayoutParameter {
    /// The flag that sets this parameter (the property name for the one the CLI does not expose).
    var flag: String {
        switch self {
        case .dp, .pp, .tp, .cp, .ep, .schedule, .recompute: return "--\(rawValue)"
        case .sequenceParallel: return "--sequence-parallel"
        case .expertTensorParallelism: return "--expert-tp"
        case .microBatchSize: return "--micro-batch-size"
        case .virtualStages: return "--virtual-stages"
        case .pipelineLayout: return "--pipeline-layout"
        case .zeroStage: return "--zero-stage"
        case .bucketElements: return name
        }
    }
}

extension TrainingSetting {
    /// The flag that sets this setting in `tessera train`, `eval` or `generate`.
    var flag: String {
        switch self {
        case .steps, .config, .data, .tokenizer, .beta1, .beta2, .temperature: return "--\(rawValue)"
        case .initialCheckpoint: return "--init"
        case .sequenceLength, .evaluationWindow: return "--seq-len"
        case .globalBatchSize: return "--global-batch-size"
        case .learningRate: return "--lr"
        case .minLearningRate: return "--min-lr"
        case .warmupSteps: return "--warmup-steps"
        case .weightDecay: return "--weight-decay"
        case .epsilon: return "--eps"
        case .gradientClip: return "--grad-clip"
        case .checkpointDirectory: return "--checkpoint-dir"
        case .checkpointEvery: return "--checkpoint-every"
        case .keepCheckpoints: return "--keep-checkpoints"
        case .topK: return "--top-k"
        case .topP: return "--top-p"
        case .prompts: return "--prompt"
        }
    }
}
