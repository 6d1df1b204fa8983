// A recorded step of a real run as the simulator's input: every action's own time, measured in the same trace.

/// One recorded step of a real run matched action by action with the schedule it ran, and what it spent
/// on each action, as ``PipelineActionTimes`` for the simulator. Every input is measured on the step's own
/// spans (as ``PipelineTraceRecorder`` writes them: one span per action, compute and communication):
///
/// - **busy**: a compute action's span; a send's span (posting the non-blocking send: the copy into a posted
///   receive or a buffer and the receiver's wake-up call, all on the sending rank, which can do nothing else
///   meanwhile). A receive's own work is part of its hand-off when it waited and a few microseconds
///   otherwise, so its busy time is 0.
/// - **dispatch**: the gap between an action's span and the previous one of its rank (the executor's
///   bookkeeping); for a rank's first action, its start after the earliest rank's first action.
/// - **transfer** (the p2p time): the median *hand-off* over the receives that were already waiting when
///   their send started, from the send's start to the receive's end (copy, wake-up and the receiver's own
///   work). The other receives found their data in place, which hides their hand-off; they get the median.
///
/// Both sides define the bubble the same way (``PipelineTimelineMetrics``): the step runs from the first
/// compute span's start to the last one's end, and only compute counts as busy (sends, receives and
/// dispatch are idle). Spans that are not actions of the schedule (the data-parallel reduction, the
/// optimizer: per-step work after the pipeline) are outside that window on both sides.
public struct PipelineMeasuredStep: Hashable, Sendable {
    public let schedule: PipelineSchedule
    /// `spans[rank][index]`: the recorded span of action `index` of `schedule.actions[rank]`.
    public let spans: [[PipelineSpan]]
    /// The observed hand-offs (see the type's documentation), in rank and action order.
    public let handOffs: [Double]

    /// Matches `timeline` (one step of a run, one row per pipeline rank `0..<schedule.stages`) with
    /// `schedule`: each action by its label, micro-batch and chunk, in the schedule's order on its rank.
    /// - Throws: ``PipelineError/invalidTrace(path:reason:)`` (with `path` as given) when an action has no
    ///   span or two, a compute span is not an action of the schedule, or a rank ran two actions in
    ///   another order than the schedule's (e.g. a GPipe run compared as 1F1B);
    ///   ``PipelineError/invalidSchedule(violations:)`` when `schedule` breaks its invariants.
    public init(_ timeline: PipelineTimeline, schedule: PipelineSchedule, path: String = "trace") throws {
        try schedule.validate()
        func mismatch(_ reason: String) -> PipelineError {
            .invalidTrace(path: path, reason: reason + "; was the run's schedule \(schedule.name) with "
                + "\(schedule.microBatches) micro-batches and \(schedule.virtualStages) chunk(s) per rank?")
        }
        let byRank = Dictionary(grouping: timeline.spans, by: \.rank)
        spans = try schedule.actions.enumerated().map { rank, actions in
            let index = Dictionary(uniqueKeysWithValues: actions.enumerated().map { (ActionKey($1, rank: rank), $0) })
            var found: [PipelineSpan?] = Array(repeating: nil, count: actions.count)
            for span in byRank[rank] ?? [] {
                guard let position = index[ActionKey(span)] else {
                    if span.kind.compute != nil { throw mismatch("rank \(rank) ran \(span.label), which is not one of its actions") }
                    continue  // outside the pipeline (data-parallel reduction, optimizer)
                }
                guard found[position] == nil else { throw mismatch("rank \(rank) has two spans for \(span.label)") }
                found[position] = span
            }
            if let missing = found.firstIndex(where: { $0 == nil }) {
                throw mismatch("rank \(rank) has no span for \(actions[missing].label) (action \(missing + 1) of \(actions.count))")
            }
            let ordered = found.map { $0! }
            // One thread runs a rank's actions one after another; allow for the trace's rounding to 1 ns.
            if let out = zip(ordered, ordered.dropFirst()).first(where: { $1.start < $0.end - 1e-6 }) {
                throw mismatch("rank \(rank) started \(out.1.label) before \(out.0.label) ended, but the schedule runs "
                    + "\(out.0.label) first")
            }
            return ordered
        }
        var sendStart: [PipelineTransfer: Double] = [:]
        for (rank, actions) in schedule.actions.enumerated() {
            for (action, span) in zip(actions, spans[rank]) {
                if case let .send(transfer) = action { sendStart[transfer] = span.start }
            }
        }
        var handOffs: [Double] = []
        for (rank, actions) in schedule.actions.enumerated() {
            for (action, span) in zip(actions, spans[rank]) {
                guard case let .receive(transfer) = action, let sent = sendStart[transfer], span.start <= sent else { continue }
                handOffs.append(max(span.end - sent, 0))
            }
        }
        self.schedule = schedule
        self.handOffs = handOffs
    }

    /// The p2p time given to the simulator: the median observed hand-off (0 when no receive waited).
    public var transferTime: Double { handOffs.isEmpty ? 0 : median(handOffs) }

    /// Each action's own measured busy and dispatch time, with ``transferTime`` as the p2p time: given these,
    /// the simulator predicts every wait, and so the bubble.
    public var actionTimes: PipelineActionTimes {
        let first = spans.compactMap(\.first?.start).min() ?? 0
        let dispatch = spans.map { rank in
            rank.indices.map { index in index == 0 ? rank[0].start - first : max(rank[index].start - rank[index - 1].end, 0) }
        }
        let busy = zip(schedule.actions, spans).map { actions, rank in
            zip(actions, rank).map { action, span in
                if case .receive = action { return 0.0 }
                return span.duration
            }
        }
        return PipelineActionTimes(dispatch: dispatch, busy: busy, transfer: transferTime)
    }

    /// ``actionTimes`` with each action's busy and dispatch time replaced by the mean over its rank's
    /// actions of the same kind and chunk (every forward of a chunk, every send of a chunk, …; a rank's
    /// start is kept): the per-stage F, B, W and p2p model, measured in the same step. It differs from
    /// ``actionTimes`` by how much the same action's time varies within the step (e.g. when another rank
    /// computes at the same time on shared cores).
    public var meanActionTimes: PipelineActionTimes {
        var times = actionTimes
        for (rank, actions) in schedule.actions.enumerated() {
            let groups = Dictionary(grouping: actions.indices, by: { ActionKey(actions[$0], rank: rank, anyMicroBatch: true) })
            for members in groups.values {
                let later = members.filter { $0 > 0 }
                let busy = members.reduce(0) { $0 + times.busy[rank][$1] } / Double(members.count)
                let dispatch = later.isEmpty ? 0 : later.reduce(0) { $0 + times.dispatch[rank][$1] } / Double(later.count)
                for index in members {
                    times.busy[rank][index] = busy
                    if index > 0 { times.dispatch[rank][index] = dispatch }
                }
            }
        }
        return times
    }
}

/// What identifies an action on its rank in a trace: the span kind, label, micro-batch and chunk.
private struct ActionKey: Hashable {
    let kind: PipelineSpanKind
    let label: String
    let microBatch: Int?
    let chunk: Int?

    init(_ span: PipelineSpan) {
        kind = span.kind
        label = span.label
        microBatch = span.microBatch
        chunk = span.chunk
    }

    /// - Parameter anyMicroBatch: leave the micro-batch out, so that the key names the kind of action
    ///   (e.g. "forward of chunk 1", "send to rank 1 from chunk 0").
    init(_ action: PipelineAction, rank: Int, anyMicroBatch: Bool = false) {
        if let (compute, microBatch, chunk) = action.compute {
            kind = PipelineSpanKind(compute)
            label = anyMicroBatch ? compute.rawValue : action.label
            self.microBatch = anyMicroBatch ? nil : microBatch
            self.chunk = chunk
        } else {
            let transfer = action.transfer!
            kind = .communication
            let direction = if case .send = action { "send" } else { "receive" }
            label = anyMicroBatch ? "\(direction) \(transfer.kind) \(transfer.source) → \(transfer.destination)" : action.label
            microBatch = anyMicroBatch ? nil : transfer.microBatch
            chunk = transfer.chunk(onRank: rank)
        }
    }
}
