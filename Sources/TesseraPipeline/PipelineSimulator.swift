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

/// Times any schedule from per-action costs, under the executor's semantics: compute actions run back to
/// back in list order, sends never wait, a receive waits until its data has arrived (`costs.transfer`
/// after the send was posted). Links have no bandwidth limit: concurrent transfers do not slow each other.
public enum PipelineSimulator {
    /// - Throws: ``PipelineError/invalidCosts(reason:)`` when `costs` do not fit the schedule, and
    ///   ``PipelineError/invalidSchedule(violations:)`` when the schedule deadlocks.
    public static func simulate(schedule: PipelineSchedule, costs: PipelineCosts = PipelineCosts()) throws -> PipelineSimulation {
        try costs.validate(for: schedule)
        guard schedule.actions.count == schedule.stages else {
            throw PipelineError.invalidSchedule(violations: [.malformed(
                reason: "\(schedule.actions.count) rank action lists for \(schedule.stages) stages")])
        }
        let run = ScheduleExecution(schedule, transferTime: costs.transfer) { rank, action in
            guard let (kind, _, chunk) = action.compute else { return 0 }
            return costs.duration(of: kind, modelChunk: schedule.modelChunk(at: PipelineLocation(rank: rank, chunk: chunk)),
                                  in: schedule)
        }
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
                } else if case let .receive(transfer) = action, time.end > time.start {
                    spans.append(PipelineSpan(rank: rank, kind: .communication, start: time.start, end: time.end,
                                              label: action.label, microBatch: transfer.microBatch,
                                              chunk: transfer.destination.chunk))
                }
            }
        }
        let title = "\(schedule.name) p=\(schedule.stages) m=\(schedule.microBatches)"
            + (schedule.virtualStages > 1 ? " v=\(schedule.virtualStages)" : "")
        let timeline = PipelineTimeline(title: title, ranks: Array(0..<schedule.stages), spans: spans)
        return PipelineSimulation(schedule: schedule, costs: costs, timeline: timeline, metrics: timeline.metrics)
    }
}
