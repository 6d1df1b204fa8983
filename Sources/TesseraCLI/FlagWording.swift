import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraPlanner

/// Library errors name settings by their property (`memory.zeroStage = 2`); the CLI reports them with its flags
/// (`--zero-stage 2`). This is the one place that maps the one to the other.
struct FlagWordedError: Error, CustomStringConvertible {
    var description: String

    /// `error` worded with the flags where it names a setting; any other error unchanged.
    static func wording(_ error: any Error) -> any Error {
        switch error {
        case let layout as ParallelConfigError: return FlagWordedError(description: layout.message(naming: .flags))
        case let collective as CollectiveError:
            return FlagWordedError(description: collective.message(timeoutSetting: "the deadline with --collective-timeout"))
        case let model as ModelError: return FlagWordedError(description: model.message(replaceOption: "--force"))
        case let planner as PlannerError: return FlagWordedError(description: planner.message(catalogOption: "--catalog FILE"))
        default: return error
        }
    }
}

extension LayoutVocabulary {
    /// The `tessera train` flags: `--zero-stage`, and `--zero-stage 2` with a value.
    static let flags = LayoutVocabulary(name: \.flag, setting: { "\($0.flag) \($1)" })
}

extension LayoutParameter {
    /// The flag that sets this parameter (the property name for the one the CLI does not expose).
    var flag: String {
        switch self {
        case .dp, .pp, .tp, .cp, .ep, .schedule, .recompute: return "--\(rawValue)"
        case .sequenceParallel: return "--sequence-parallel"
        case .microBatchSize: return "--micro-batch-size"
        case .virtualStages: return "--virtual-stages"
        case .pipelineLayout: return "--pipeline-layout"
        case .zeroStage: return "--zero-stage"
        case .bucketElements: return name
        }
    }
}
