/// Why a pipeline configuration, layout, cost table, schedule or trace file was rejected.
///
/// Every message names the problem and what to change, e.g. "interleaved 1F1B needs the number of
/// micro-batches (6) to be a multiple of the number of stages (4); use 4, 8, 12 or 16 micro-batches".
public enum PipelineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A schedule or partition parameter is out of range; `fix` says which values are valid.
    case invalidParameter(name: String, value: Int, fix: String)
    /// A schedule name that is not one of ``PipelineScheduleKind``.
    case unknownSchedule(name: String)
    /// An explicit layer layout such as `"5,6,6,5"` that cannot be used.
    case invalidLayout(layout: String, reason: String)
    /// Per-action costs that do not fit the schedule (wrong count, negative or non-finite values).
    case invalidCosts(reason: String)
    /// A schedule broke its invariants; the violations say where.
    case invalidSchedule(violations: [PipelineScheduleViolation])
    /// A trace file that cannot be read as a Chrome/Perfetto trace, or holds no compute spans.
    case invalidTrace(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidParameter(name, value, fix):
            return "\(name)=\(value) is invalid: \(fix)"
        case let .unknownSchedule(name):
            let valid = PipelineScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")
            return "unknown pipeline schedule '\(name)'; valid schedules: \(valid)"
        case let .invalidLayout(layout, reason):
            return "pipeline layout '\(layout)' is invalid: \(reason)"
        case let .invalidCosts(reason):
            return "pipeline costs are invalid: \(reason)"
        case let .invalidSchedule(violations):
            let shown = violations.prefix(5).map { "  - \($0)" }.joined(separator: "\n")
            let more = violations.count > 5 ? "\n  … and \(violations.count - 5) more" : ""
            return "the pipeline schedule breaks \(violations.count) invariant(s):\n\(shown)\(more)"
        case let .invalidTrace(path, reason):
            return "\(path) is not a usable pipeline trace: \(reason)"
        }
    }
}
