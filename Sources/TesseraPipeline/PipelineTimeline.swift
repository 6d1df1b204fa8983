/// What a span of a timeline is: compute of some kind, waiting for or doing communication, or other work.
public enum PipelineSpanKind: String, CaseIterable, Codable, Sendable {
    case forward
    case backward
    case backwardInput = "backward-input"
    case backwardWeight = "backward-weight"
    case communication
    case other

    public init(_ kind: PipelineComputeKind) {
        switch kind {
        case .forward: self = .forward
        case .backward: self = .backward
        case .backwardInput: self = .backwardInput
        case .backwardWeight: self = .backwardWeight
        }
    }

    /// The compute kind, or `nil` for communication and other spans (which count as idle in the bubble).
    public var compute: PipelineComputeKind? {
        switch self {
        case .forward: return .forward
        case .backward: return .backward
        case .backwardInput: return .backwardInput
        case .backwardWeight: return .backwardWeight
        case .communication, .other: return nil
        }
    }
}

/// One box of a timeline: what a rank did from `start` to `end`.
public struct PipelineSpan: Hashable, Codable, Sendable {
    public var rank: Int
    public var kind: PipelineSpanKind
    public var start: Double
    public var end: Double
    /// A short label such as `F3` or `B3.1`.
    public var label: String
    public var microBatch: Int?
    public var chunk: Int?

    public init(rank: Int, kind: PipelineSpanKind, start: Double, end: Double, label: String,
                microBatch: Int? = nil, chunk: Int? = nil) {
        self.rank = rank
        self.kind = kind
        self.start = start
        self.end = end
        self.label = label
        self.microBatch = microBatch
        self.chunk = chunk
    }

    public var duration: Double { end - start }
}

/// Per-rank spans, simulated or measured; the one input of the pictures and of the bubble measurement.
public struct PipelineTimeline: Hashable, Codable, Sendable {
    /// A heading for pictures, e.g. `"1F1B p=4 m=8"`.
    public var title: String
    /// The rank of each row, top to bottom.
    public var ranks: [Int]
    public var spans: [PipelineSpan]
    /// The unit of `start`/`end` (`"ms"` for traces; empty for the simulator's abstract units).
    public var timeUnit: String

    public init(title: String, ranks: [Int], spans: [PipelineSpan], timeUnit: String = "") {
        self.title = title
        self.ranks = ranks
        self.spans = spans
        self.timeUnit = timeUnit
    }

    /// Step time, idle time, bubble fraction and peak activations; see ``PipelineTimelineMetrics``.
    public var metrics: PipelineTimelineMetrics { PipelineTimelineMetrics(self) }
}

/// Figures measured on a timeline, the same way for a simulation and for a real trace.
public struct PipelineTimelineMetrics: Hashable, Codable, Sendable {
    /// Start of the first compute span.
    public var start: Double
    /// From the first compute span's start to the last one's end, over all ranks.
    public var stepTime: Double
    /// Per row: time covered by compute spans.
    public var busyTime: [Double]
    /// Per row: `stepTime − busyTime` (waiting on transfers counts as idle).
    public var idleTime: [Double]
    /// Idle time over all rows divided by `rows · stepTime`.
    public var bubbleFraction: Double
    /// Per row: the most micro-batch chunks forwarded and not yet backward-completed (by a whole backward
    /// or a W) at any moment, following the compute spans in time order.
    public var peakActivations: [Int]

    public init(_ timeline: PipelineTimeline) {
        let compute = timeline.spans.filter { $0.kind.compute != nil }
        start = compute.map(\.start).min() ?? 0
        stepTime = (compute.map(\.end).max() ?? 0) - start
        let byRank = Dictionary(grouping: compute, by: \.rank)
        var busy: [Double] = [], peaks: [Int] = []
        for rank in timeline.ranks {
            let spans = (byRank[rank] ?? []).sorted { ($0.start, $0.end) < ($1.start, $1.end) }
            var covered = 0.0, reach = -Double.infinity
            for span in spans where span.end > reach {
                covered += span.end - max(span.start, reach)
                reach = span.end
            }
            busy.append(covered)
            peaks.append(peakInFlight(spans.compactMap(\.kind.compute)))
        }
        busyTime = busy
        idleTime = busy.map { [stepTime] in stepTime - $0 }
        let total = stepTime * Double(timeline.ranks.count)
        bubbleFraction = total > 0 ? idleTime.reduce(0, +) / total : 0
        peakActivations = peaks
    }
}

/// The most forwards not yet matched by a completing backward (whole backward or W) in `kinds`.
func peakInFlight(_ kinds: some Sequence<PipelineComputeKind>) -> Int {
    var inFlight = 0, peak = 0
    for kind in kinds {
        switch kind {
        case .forward: inFlight += 1; peak = max(peak, inFlight)
        case .backward, .backwardWeight: inFlight -= 1
        case .backwardInput: break
        }
    }
    return peak
}

extension PipelineSchedule {
    /// Per rank: the most (micro-batch, chunk) activations held at once, i.e. forwarded and not yet
    /// backward-completed. It depends only on the order of actions, not on their times.
    public var peakActivations: [Int] {
        actions.map { peakInFlight($0.lazy.compactMap { $0.compute?.kind }) }
    }
}
