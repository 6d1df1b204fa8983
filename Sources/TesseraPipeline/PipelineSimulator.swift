/// The simulated timing of one step of a schedule.
public struct PipelineSimulation: Hashable, Codable, Sendable {
    public var schedule: PipelineSchedule
    public var costs: PipelineCosts
    /// Every compute action, and every wait on a receive that took time, with its start and end.
    public var timeline: PipelineTimeline
    /// Step time, bubble fraction, idle time and peak activations, measured on ``timeline``.
    public var metrics: PipelineTimelineMetrics

    public var stepTime: Double { metrics.stepTime }
    /// Idle time of all ranks over `stages · stepTime`.
    public var bubbleFraction: Double { metrics.bubbleFraction }
    /// Per rank: the most micro-batch chunks forwarded and not yet backward-completed.
    public var peakActivations: [Int] { metrics.peakActivations }
}

/// Times any schedule under the executor's semantics (``ScheduleExecution``): actions run back to back in
/// list order, sends never wait, a receive waits until its data is ready (the transfer time after the send
/// started). Links have no bandwidth limit: concurrent transfers do not slow each other.
public enum PipelineSimulator {
    /// The formula model: per-kind costs, free sends and dispatch (``PipelineActionTimes/init(_:schedule:)``).
    /// Its timeline holds every compute action and every receive that waited.
    /// - Throws: ``PipelineError/invalidCosts(reason:)`` when `costs` do not fit the schedule, and
    ///   ``PipelineError/invalidSchedule(violations:)`` when the schedule deadlocks.
    public static func simulate(schedule: PipelineSchedule, costs: PipelineCosts = PipelineCosts()) throws -> PipelineSimulation {
        try costs.validate(for: schedule)
        let all = try simulate(schedule: schedule, actionTimes: PipelineActionTimes(costs, schedule: schedule))
        let timeline = PipelineTimeline(title: all.title, ranks: all.ranks,
                                        spans: all.spans.filter { $0.kind != .communication || $0.end > $0.start })
        return PipelineSimulation(schedule: schedule, costs: costs, timeline: timeline, metrics: timeline.metrics)
    }

    /// Times `schedule` with each action's own dispatch and busy time, e.g. those measured in a real run
    /// (``PipelineMeasuredStep``). The timeline holds one span per action, in the same form as a recorded
    /// trace: compute spans, and communication spans for every send (its busy time) and every receive
    /// (from its start to its data, zero-length when nothing was waited for).
    /// - Throws: ``PipelineError/invalidCosts(reason:)`` when `actionTimes` do not fit the schedule, and
    ///   ``PipelineError/invalidSchedule(violations:)`` when the schedule deadlocks.
    public static func simulate(schedule: PipelineSchedule, actionTimes: PipelineActionTimes) throws -> PipelineTimeline {
        guard schedule.actions.count == schedule.stages else {
            throw PipelineError.invalidSchedule(violations: [.malformed(
                reason: "\(schedule.actions.count) rank action lists for \(schedule.stages) stages")])
        }
        try actionTimes.validate(for: schedule)
        let run = ScheduleExecution(schedule, times: actionTimes)
        guard run.blocked.isEmpty else {
            throw PipelineError.invalidSchedule(violations: [.deadlock(ranks: run.blocked.map(\.rank),
                                                                       waitingFor: run.blocked.map(\.transfer))])
        }
        var spans: [PipelineSpan] = []
        for (rank, actions) in schedule.actions.enumerated() {
            for (action, time) in zip(actions, run.times[rank]) {
                if let (kind, microBatch, chunk) = action.compute {
                    spans.append(PipelineSpan(rank: rank, kind: PipelineSpanKind(kind), start: time.start, end: time.end,
                                              label: action.label, microBatch: microBatch, chunk: chunk))
                } else if let transfer = action.transfer {
                    spans.append(PipelineSpan(rank: rank, kind: .communication, start: time.start, end: time.end, label: action.label,
                                              microBatch: transfer.microBatch, chunk: transfer.chunk(onRank: rank)))
                }
            }
        }
        let title = "\(schedule.name) p=\(schedule.stages) m=\(schedule.microBatches)"
            + (schedule.virtualStages > 1 ? " v=\(schedule.virtualStages)" : "")
        return PipelineTimeline(title: title, ranks: Array(0..<schedule.stages), spans: spans)
    }
}
