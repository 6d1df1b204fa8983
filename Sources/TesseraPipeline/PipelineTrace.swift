import Foundation
import TesseraFiles

/// The arguments Tessera puts on a trace event; unknown or mistyped keys from other tools are ignored.
public struct PipelineTraceArguments: Hashable, Codable, Sendable {
    public var microBatch: Int?
    public var chunk: Int?
    /// The training step the span belongs to, so one trace can hold several steps.
    public var step: Int?
    /// The name carried by metadata events (`process_name`, `thread_name`).
    public var name: String?

    public init(microBatch: Int? = nil, chunk: Int? = nil, step: Int? = nil, name: String? = nil) {
        self.microBatch = microBatch
        self.chunk = chunk
        self.step = step
        self.name = name
    }

    private enum CodingKeys: String, CodingKey { case microBatch, chunk, step, name }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        microBatch = try? container.decodeIfPresent(Int.self, forKey: .microBatch)
        chunk = try? container.decodeIfPresent(Int.self, forKey: .chunk)
        step = try? container.decodeIfPresent(Int.self, forKey: .step)
        name = try? container.decodeIfPresent(String.self, forKey: .name)
    }
}

/// One event of the Chrome/Perfetto trace event format (the JSON that `chrome://tracing` and
/// ui.perfetto.dev open). Tessera writes complete events (`ph: "X"`) with `ts`/`dur` in microseconds,
/// `pid` = pipeline rank, `tid` 0 for compute and 1 for communication, and `cat` a ``PipelineSpanKind``.
public struct PipelineTraceEvent: Hashable, Codable, Sendable {
    public var name: String
    /// `forward`, `backward`, `backward-input`, `backward-weight`, `communication` or anything else.
    public var category: String?
    /// `"X"` for a complete event; `"M"` for metadata; other phases are kept but not drawn.
    public var phase: String
    /// Start, in microseconds.
    public var timestamp: Double?
    /// Duration, in microseconds (complete events only).
    public var duration: Double?
    public var process: Int
    public var thread: Int
    public var arguments: PipelineTraceArguments?

    public init(name: String, category: String?, phase: String = "X", timestamp: Double?, duration: Double?,
                process: Int, thread: Int, arguments: PipelineTraceArguments? = nil) {
        self.name = name
        self.category = category
        self.phase = phase
        self.timestamp = timestamp
        self.duration = duration
        self.process = process
        self.thread = thread
        self.arguments = arguments
    }

    private enum CodingKeys: String, CodingKey {
        case name, category = "cat", phase = "ph", timestamp = "ts", duration = "dur", process = "pid",
             thread = "tid", arguments = "args"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        category = try container.decodeIfPresent(String.self, forKey: .category)
        phase = try container.decode(String.self, forKey: .phase)
        timestamp = try container.decodeIfPresent(Double.self, forKey: .timestamp)
        duration = try container.decodeIfPresent(Double.self, forKey: .duration)
        process = try container.decodeIfPresent(Int.self, forKey: .process) ?? 0
        thread = try container.decodeIfPresent(Int.self, forKey: .thread) ?? 0
        arguments = try container.decodeIfPresent(PipelineTraceArguments.self, forKey: .arguments)
    }

    /// Whether this is a complete event with a time and duration, i.e. a box on the timeline.
    public var isSpan: Bool { phase == "X" && timestamp != nil && duration != nil }
}

/// A Chrome/Perfetto trace: `{"traceEvents": [...], "displayTimeUnit": "ms"}`.
public struct PipelineTrace: Hashable, Codable, Sendable {
    public var events: [PipelineTraceEvent]

    public init(events: [PipelineTraceEvent]) { self.events = events }

    private enum CodingKeys: String, CodingKey { case events = "traceEvents", displayTimeUnit }

    public init(from decoder: any Decoder) throws {
        if let container = try? decoder.container(keyedBy: CodingKeys.self) {
            events = try container.decode([PipelineTraceEvent].self, forKey: .events)
        } else {
            // The format also allows a bare array of events.
            events = try decoder.singleValueContainer().decode([PipelineTraceEvent].self)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(events, forKey: .events)
        try container.encode("ms", forKey: .displayTimeUnit)
    }

    /// Reads a trace file.
    /// - Throws: ``PipelineError/invalidTrace(path:reason:)`` when the file is missing, truncated or not a trace.
    public init(contentsOf path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw PipelineError.invalidTrace(path: path, reason: "the file cannot be read (\(error.localizedDescription))")
        }
        do { self = try JSONDecoder().decode(PipelineTrace.self, from: data) } catch let error as DecodingError {
            throw PipelineError.invalidTrace(path: path, reason: Self.explain(error))
        }
    }

    /// Writes the trace as JSON, atomically.
    /// - Throws: ``FileWriteError``.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicWrite.write(Array(try encoder.encode(self)), to: path)
    }

    /// This trace and `others`' events together (e.g. one trace per MPI process).
    public func merging(_ others: [PipelineTrace]) -> PipelineTrace {
        PipelineTrace(events: events + others.flatMap(\.events))
    }

    /// The distinct `step` arguments of the spans, ascending (empty when no span names a step).
    public var steps: [Int] { Array(Set(events.compactMap { $0.isSpan ? $0.arguments?.step : nil })).sorted() }

    /// The spans as a timeline in milliseconds, one row per `pid`; only those of `step` when given.
    /// - Throws: ``PipelineError/invalidTrace(path:reason:)`` (with `path` as given) when no forward or
    ///   backward span is left.
    public func timeline(title: String, step: Int? = nil, path: String = "trace") throws -> PipelineTimeline {
        let spans = events.filter { $0.isSpan && (step == nil || $0.arguments?.step == step) }.map { event in
            let start = event.timestamp! / 1000
            return PipelineSpan(rank: event.process, kind: PipelineSpanKind(rawValue: event.category ?? "") ?? .other,
                                start: start, end: start + max(event.duration!, 0) / 1000, label: event.name,
                                microBatch: event.arguments?.microBatch, chunk: event.arguments?.chunk)
        }
        guard spans.contains(where: { $0.kind.compute != nil }) else {
            let kinds = PipelineSpanKind.allCases.filter { $0.compute != nil }.map(\.rawValue).joined(separator: ", ")
            throw PipelineError.invalidTrace(path: path, reason: "no complete (\"ph\": \"X\") events with cat \(kinds)"
                + (step.map { " in step \($0)" } ?? ""))
        }
        return PipelineTimeline(title: title, ranks: Array(Set(spans.map(\.rank))).sorted(), spans: spans, timeUnit: "ms")
    }

    /// A trace of a timeline (e.g. a simulation), taking one timeline unit as one millisecond.
    public init(_ timeline: PipelineTimeline) {
        events = timeline.ranks.map(Self.processName) + timeline.spans.map { span in
            PipelineTraceEvent(name: span.label, category: span.kind.rawValue, timestamp: span.start * 1000,
                               duration: span.duration * 1000, process: span.rank,
                               thread: span.kind == .communication ? 1 : 0,
                               arguments: PipelineTraceArguments(microBatch: span.microBatch, chunk: span.chunk))
        }
    }

    /// The metadata event that names `rank`'s track in trace viewers.
    static func processName(rank: Int) -> PipelineTraceEvent {
        PipelineTraceEvent(name: "process_name", category: nil, phase: "M", timestamp: nil, duration: nil,
                           process: rank, thread: 0, arguments: PipelineTraceArguments(name: "rank \(rank)"))
    }

    private static func explain(_ error: DecodingError) -> String {
        switch error {
        case let .dataCorrupted(context):
            return "not valid JSON (truncated or corrupt?): \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)"
        case let .keyNotFound(key, context):
            return "missing \"\(key.stringValue)\" at \(path(context))"
        case let .typeMismatch(_, context), let .valueNotFound(_, context):
            return "\(context.debugDescription) at \(path(context))"
        @unknown default:
            return "\(error)"
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return keys.isEmpty ? "the top level" : keys
    }
}
