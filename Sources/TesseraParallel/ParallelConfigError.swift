import TesseraPipeline

/// A setting of ``ParallelConfig`` that an error can name. Library messages name it by its property path
/// (``name``); a front end names it in its own terms through a ``SettingVocabulary`` (the CLI by its flag).
public enum LayoutParameter: String, CaseIterable, Sendable {
    case dp, pp, tp, cp, ep, expertTensorParallelism, sequenceParallel, microBatchSize
    case schedule, virtualStages, pipelineLayout, recompute, zeroStage, bucketElements

    /// The property path in ``ParallelConfig``: `dp`, `microBatchSize`, `pipeline.virtualStages`, `memory.zeroStage`, ….
    public var name: String {
        switch self {
        case .dp, .pp, .tp, .cp, .ep, .expertTensorParallelism, .sequenceParallel, .microBatchSize: return rawValue
        case .schedule: return "pipeline.schedule"
        case .virtualStages: return "pipeline.virtualStages"
        case .pipelineLayout: return "pipeline.layout"
        case .recompute: return "memory.recompute"
        case .zeroStage: return "memory.zeroStage"
        case .bucketElements: return "memory.bucketElements"
        }
    }

    /// The parameter whose ``name`` is `name` (nil for other names, e.g. "process groups").
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }
}

/// Why a parallel layout cannot run. Every message names the setting to change (in library terms; a front end
/// renders it in its own with ``message(naming:)``) and the values that work.
public enum ParallelConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An axis or size below 1.
    case axisTooSmall(parameter: LayoutParameter, value: Int)
    /// `dp · cp · pp · tp` differs from the ranks of the job.
    case rankCountMismatch(layout: String, required: Int, ranks: Int, suggestions: [String])
    /// tp exceeds the `count` query heads (or another size tp splits), so a rank would hold none.
    case tensorParallelTooLarge(what: String, count: Int, tp: Int)
    /// Fewer layers than model chunks; `validStages` lists the pp values that work with these virtual stages.
    case layersDoNotSplit(layers: Int, pp: Int, virtualStages: Int, validStages: [Int])
    /// An explicit layout that does not fit.
    case invalidLayout(layout: [Int], reason: String)
    /// The global batch is not a multiple of `dp · microBatchSize`.
    case batchDoesNotSplit(globalBatch: Int, dp: Int, microBatchSize: Int, validMicroBatchSizes: [Int])
    /// The schedule cannot run this combination.
    case scheduleNeeds(schedule: PipelineScheduleKind, reason: String)
    /// Virtual stages with a schedule other than the interleaved one.
    case virtualStagesNeedInterleaving(schedule: PipelineScheduleKind, virtualStages: Int)
    /// The interleaved schedule on one stage.
    case interleavingNeedsStages
    /// Recomputation with a schedule that defers the weight gradients (ZB-H1).
    case recomputationWithSplitBackward(schedule: PipelineScheduleKind, recompute: Recomputation)
    /// Sequence parallelism without tensor parallelism.
    case sequenceParallelNeedsTensorParallel
    /// Sequence parallelism cannot split this.
    case sequenceParallel(reason: String)
    /// Any other setting with an invalid value; `option` is a ``LayoutParameter/name`` where one applies.
    case invalidOption(option: String, value: String, valid: String)

    public var description: String { message(naming: .library) }

    /// The message with every setting named in `vocabulary`'s terms.
    public func message(naming vocabulary: SettingVocabulary) -> String {
        func name(_ parameter: LayoutParameter) -> String { vocabulary.name(parameter) }
        func setting(_ parameter: LayoutParameter, _ value: String) -> String { vocabulary.setting(parameter, value) }
        switch self {
        case let .axisTooSmall(parameter, value):
            return "\(setting(parameter, "\(value)")) is invalid: it must be at least 1"
        case let .rankCountMismatch(layout, required, ranks, suggestions):
            let hint = suggestions.isEmpty ? "" : "; layouts that use \(ranks) ranks: \(suggestions.joined(separator: ", "))"
            return "the layout \(layout) needs \(required) ranks but the job has \(ranks) (dp × cp × pp × tp must equal the number of ranks)\(hint)"
        case let .tensorParallelTooLarge(what, count, tp):
            return Self.tensorParallelMessage(what: what, count: count, tp: tp)
        case let .layersDoNotSplit(layers, pp, virtualStages, validStages):
            let chunks = virtualStages > 1 ? "pp=\(pp) × v=\(virtualStages) = \(pp * virtualStages) model chunks" : "pp=\(pp) stages"
            let stages = validStages.map(String.init).joined(separator: ", ")
            return "\(layers) layers cannot fill \(chunks) (each chunk needs at least one layer); use pp ∈ {\(stages)}"
                + (virtualStages > 1 ? " with v=\(virtualStages), or fewer virtual stages" : "")
        case let .invalidLayout(layout, reason):
            return "\(setting(.pipelineLayout, layout.map(String.init).joined(separator: ","))) is invalid: \(reason)"
        case let .batchDoesNotSplit(globalBatch, dp, microBatchSize, valid):
            return "a global batch of \(globalBatch) sequences does not split into dp=\(dp) × micro-batches of \(microBatchSize);"
                + " the global batch must be a multiple of dp × micro-batch size"
                + (valid.isEmpty ? "; use a global batch that is a multiple of dp=\(dp)"
                    : "; use \(name(.microBatchSize)) ∈ {\(valid.map(String.init).joined(separator: ", "))} or a global batch of \(dp * microBatchSize)·k")
        case let .scheduleNeeds(schedule, reason):
            return "the \(schedule) schedule cannot run this layout: \(reason)"
        case let .virtualStagesNeedInterleaving(schedule, virtualStages):
            return "the \(schedule) schedule cannot run this layout: only the interleaved schedule has virtual stages"
                + " (\(setting(.virtualStages, "\(virtualStages)"))); use \(setting(.schedule, "interleaved")) or"
                + " \(setting(.virtualStages, "1"))"
        case .interleavingNeedsStages:
            return "the interleaved schedule cannot run this layout: interleaving sends between chunks on different stages"
                + " and needs \(setting(.pp, "2")) or more; use 1f1b or gpipe on one stage"
        case let .recomputationWithSplitBackward(schedule, recompute):
            return "the \(schedule) schedule cannot run this layout: \(setting(.recompute, "\(recompute)")) rebuilds a"
                + " layer's activations inside its backward pass, but ZB-H1 defers the weight gradients that read them;"
                + " use \(setting(.recompute, "none")) with zb-h1, or gpipe, 1f1b or interleaved with recomputation"
        case .sequenceParallelNeedsTensorParallel:
            return "\(name(.sequenceParallel)): sequence parallelism splits the sequence over the tensor-parallel group;"
                + " use it with \(setting(.tp, "2")) or more"
        case let .sequenceParallel(reason):
            return "\(name(.sequenceParallel)): \(reason)"
        case let .invalidOption(option, value, valid):
            let named = LayoutParameter(name: option) == nil ? "\(vocabulary.name(option)) \(value)" : vocabulary.setting(option, value)
            return "\(named) is invalid; use \(valid)"
        }
    }
}

extension ParallelConfigError {
    /// The message of a tp larger than the `count` things it splits (``ModelError``'s too), listing the valid tp.
    public static func tensorParallelMessage(what: String, count: Int, tp: Int) -> String {
        let choices = count <= 4 ? (1...count).map(String.init).joined(separator: ", ") : "1, 2, …, \(count)"
        return "tp=\(tp) is more than the \(count) \(what), so a rank would hold none; use tp ∈ {\(choices)}"
    }
}
