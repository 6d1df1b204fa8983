import Foundation

/// Whether the server can generate: loading the model, ready, or shutting down. Set by the launcher, read by every
/// request.
public final class ServingState: @unchecked Sendable {
    private enum Phase {
        case loading
        case ready(ServedModel, Scheduler)
        case stopping
    }

    private let lock = NSLock()
    private var phase = Phase.loading

    public init() {}

    /// The model is loaded and its scheduler runs (if a shutdown came while loading, the scheduler is told to stop).
    public func ready(model: ServedModel, scheduler: Scheduler) {
        lock.withLock {
            if case .stopping = phase {
                scheduler.shutdown()
            } else {
                phase = .ready(model, scheduler)
            }
        }
    }

    /// No new requests from now on (the scheduler is asked to finish what runs).
    public func stop() {
        lock.withLock {
            if case let .ready(_, scheduler) = phase { scheduler.shutdown() }
            phase = .stopping
        }
    }

    /// The model and scheduler.
    /// - Throws: ``APIError`` 503 while loading or shutting down.
    package func serving() throws -> (model: ServedModel, scheduler: Scheduler) {
        try lock.withLock {
            switch phase {
            case .loading: throw APIError(.serviceUnavailable, "the model is still loading; retry in a moment")
            case .stopping: throw APIError(.serviceUnavailable, ServeError.shuttingDown.description)
            case let .ready(model, scheduler): return (model, scheduler)
            }
        }
    }
}
