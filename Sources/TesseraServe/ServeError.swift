/// Why the scheduler refused or ended a sequence.
public enum ServeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `limit` requests already wait for a place in the batch.
    case queueFull(limit: Int)
    /// The server is shutting down and takes no new requests.
    case shuttingDown
    /// A request the scheduler cannot run (a prompt or continuation that does not fit the context).
    case invalidRequest(String)
    /// The model or the scheduler failed; the message says where.
    case internalFailure(String)

    public var description: String {
        switch self {
        case let .queueFull(limit):
            return "the server is busy: \(limit) requests are already queued (the server's queue limit); retry later"
        case .shuttingDown:
            return "the server is shutting down and accepts no new requests"
        case let .invalidRequest(reason):
            return reason
        case let .internalFailure(reason):
            return "internal error: \(reason)"
        }
    }
}
