import Foundation

/// An open span handed out by ``PipelineTraceRecorder/begin(_:rank:name:microBatch:chunk:step:)``; pass it
/// to ``PipelineTraceRecorder/end(_:)``.
public struct PipelineTraceSpan: Sendable {
    public let kind: PipelineSpanKind
    public let rank: Int
    public let name: String
    public let microBatch: Int?
    public let chunk: Int?
    public let step: Int?
    public let start: ContinuousClock.Instant
}

/// Records the spans of a real run for a Chrome/Perfetto trace: each rank's forward, backward and
/// communication, timed with the monotonic `ContinuousClock` relative to one origin.
///
/// Thread-safe: rank threads call ``begin(_:rank:name:microBatch:chunk:step:)`` and ``end(_:)`` (or
/// ``measure(_:rank:step:_:)``) concurrently; only ``end(_:)`` takes the lock, for one append. With one
/// process per rank (MPI), create each recorder right after a barrier so origins agree to within the
/// barrier's skew, and merge the files with ``PipelineTrace/merging(_:)``. Pass the pipeline stage as
/// `rank` and record one tensor/data-parallel replica per stage, so each row of the picture is one stage.
public final class PipelineTraceRecorder: @unchecked Sendable {
    private let origin: ContinuousClock.Instant
    private let lock = NSLock()
    private var events: [PipelineTraceEvent] = []
    private var ranks: Set<Int> = []

    /// - Parameter origin: the instant written as time 0.
    public init(origin: ContinuousClock.Instant = .now) {
        self.origin = origin
    }

    /// Opens a span now.
    public func begin(_ kind: PipelineSpanKind, rank: Int, name: String, microBatch: Int? = nil, chunk: Int? = nil,
                      step: Int? = nil) -> PipelineTraceSpan {
        PipelineTraceSpan(kind: kind, rank: rank, name: name, microBatch: microBatch, chunk: chunk, step: step,
                          start: .now)
    }

    /// Opens a span for a schedule action: compute kinds map to their span kind, sends and receives to
    /// `communication`; the name is the action's ``PipelineAction/label``.
    public func begin(_ action: PipelineAction, rank: Int, step: Int? = nil) -> PipelineTraceSpan {
        if let (kind, microBatch, chunk) = action.compute {
            return begin(PipelineSpanKind(kind), rank: rank, name: action.label, microBatch: microBatch, chunk: chunk, step: step)
        }
        let transfer = action.transfer!
        return begin(.communication, rank: rank, name: action.label, microBatch: transfer.microBatch,
                     chunk: transfer.chunk(onRank: rank), step: step)
    }

    /// Closes `span` now and records it.
    public func end(_ span: PipelineTraceSpan) {
        let end = ContinuousClock.now
        let event = PipelineTraceEvent(
            name: span.name, category: span.kind.rawValue, timestamp: microseconds(span.start - origin),
            duration: microseconds(end - span.start), process: span.rank, thread: span.kind == .communication ? 1 : 0,
            arguments: PipelineTraceArguments(microBatch: span.microBatch, chunk: span.chunk, step: span.step))
        lock.withLock {
            events.append(event)
            ranks.insert(span.rank)
        }
    }

    /// Runs `body` inside a span for `action`.
    public func measure<T>(_ action: PipelineAction, rank: Int, step: Int? = nil, _ body: () throws -> T) rethrows -> T {
        let span = begin(action, rank: rank, step: step)
        defer { end(span) }
        return try body()
    }

    /// The spans recorded so far, ordered by start, with a name for each rank's track.
    public var trace: PipelineTrace {
        let (recorded, seen) = lock.withLock { (events, ranks) }
        return PipelineTrace(events: seen.sorted().map(PipelineTrace.processName)
            + recorded.sorted { ($0.timestamp ?? 0, $0.process) < ($1.timestamp ?? 0, $1.process) })
    }

    private func microseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
    }
}
