// Comparing a measured run with the simulator: the same schedule, timed with the run's own per-action times.

extension PipelineCosts {
    /// The mean time of each compute kind on each row of a measured timeline, so a real run can be
    /// compared with the simulator's prediction for the same per-action times. Tables have one entry per
    /// row (rank); transfers are taken as free, since a wait on a receive mixes transfer and idle time.
    /// Whole backwards give B (W stays `nil`); split backwards give B and W.
    public init(measuredFrom timeline: PipelineTimeline) {
        func means(_ kind: PipelineSpanKind) -> [Double]? {
            let all = timeline.spans.filter { $0.kind == kind }
            guard !all.isEmpty else { return nil }
            let overall = all.reduce(0) { $0 + $1.duration } / Double(all.count)
            return timeline.ranks.map { rank in
                let own = all.filter { $0.rank == rank }
                return own.isEmpty ? overall : own.reduce(0) { $0 + $1.duration } / Double(own.count)
            }
        }
        let weight = means(.backwardWeight)
        self.init(forward: means(.forward) ?? [0], backwardInput: (weight == nil ? means(.backward) : means(.backwardInput)) ?? [0],
                  backwardWeight: weight)
    }
}

extension PipelineTimeline {
    /// The simulator's prediction for this measured run: `kind` on as many stages as the timeline has rows
    /// and as many micro-batches as its compute spans name, timed with ``PipelineCosts/init(measuredFrom:)``.
    /// Its bubble fraction is what the run's ``metrics`` should approach. Expects one row per pipeline stage.
    /// - Throws: ``PipelineError/invalidParameter(name:value:fix:)`` when the timeline does not fit `kind`
    ///   (e.g. a micro-batch count that interleaving cannot use).
    public func simulatedCounterpart(kind: PipelineScheduleKind, virtualStages: Int = 1) throws -> PipelineSimulation {
        let microBatches = (spans.compactMap { $0.kind.compute != nil ? $0.microBatch : nil }.max() ?? -1) + 1
        let schedule = try PipelineSchedule(kind, stages: ranks.count, microBatches: microBatches, virtualStages: virtualStages)
        return try PipelineSimulator.simulate(schedule: schedule, costs: PipelineCosts(measuredFrom: self))
    }
}
