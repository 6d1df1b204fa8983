/// Context-parallel settings that cannot run. Messages name the problem and the values that work.
public enum ContextParallelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A sequence shorter than the context-parallel group: some rank would hold no token.
    case sequenceTooShort(length: Int, cp: Int)
    /// Ulysses attention needs the (tensor-parallel local) heads to split over cp; `valid` lists the cp that work.
    case headsDoNotSplit(what: String, count: Int, cp: Int, valid: [Int])
    /// A context-parallel attention name that does not exist.
    case unknownCommunication(String)
    /// An operation that does not run with context parallelism.
    case unsupported(operation: String, reason: String)

    public var description: String {
        switch self {
        case let .sequenceTooShort(length, cp):
            return "a sequence of \(length) tokens leaves some of the cp=\(cp) ranks no token; use sequences of at least \(cp) tokens or cp ≤ \(length)"
        case let .headsDoNotSplit(what, count, cp, valid):
            return "Ulysses (a2a) attention splits heads over cp, but \(count) \(what) per tensor-parallel rank are not divisible by cp=\(cp); "
                + "use cp ∈ {\(valid.map(String.init).joined(separator: ", "))} or the ring or allgather attention"
        case let .unknownCommunication(name):
            return "unknown context-parallel attention '\(name)'; use one of \(ContextCommunication.allCases.map(\.rawValue).joined(separator: ", "))"
        case let .unsupported(operation, reason):
            return "\(operation) does not run with context parallelism: \(reason)"
        }
    }
}
