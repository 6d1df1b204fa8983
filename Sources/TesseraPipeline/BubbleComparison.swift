// A measured run's bubble against the simulator's, step by step, summarized by medians so that one noisy
// step does not decide the comparison.

/// One step of a measured run beside the simulator's predictions for that step's own measured times
/// (``PipelineMeasuredStep``).
public struct PipelineStepComparison: Hashable, Sendable {
    /// The trace's step number (`nil` when the trace's spans carry none and the whole trace is one step).
    public var step: Int?
    /// Step time, bubble and peak activations measured on the trace's spans of this step.
    public var measured: PipelineTimelineMetrics
    /// The simulator given each action's own measured time and the median hand-off as p2p time
    /// (``PipelineMeasuredStep/actionTimes``): every wait, and so the bubble, is its prediction.
    public var simulated: PipelineTimelineMetrics
    /// The simulator given each rank's mean time per kind of action instead
    /// (``PipelineMeasuredStep/meanActionTimes``): the per-stage F, B, W and p2p model.
    public var simulatedFromMeans: PipelineTimelineMetrics
    /// The p2p time both simulations were given (``PipelineMeasuredStep/transferTime``).
    public var transferTime: Double
    /// How many hand-offs the step showed (receives already waiting when their send started).
    public var handOffs: Int

    public init(step: Int?, measured: PipelineTimelineMetrics, simulated: PipelineTimelineMetrics,
                simulatedFromMeans: PipelineTimelineMetrics, transferTime: Double, handOffs: Int) {
        self.step = step
        self.measured = measured
        self.simulated = simulated
        self.simulatedFromMeans = simulatedFromMeans
        self.transferTime = transferTime
        self.handOffs = handOffs
    }

    /// Compares `measuredStep` (whose timeline is `timeline`) with its two simulations.
    /// - Throws: ``PipelineError/invalidSchedule(violations:)`` when the schedule deadlocks.
    public init(step: Int?, timeline: PipelineTimeline, measuredStep: PipelineMeasuredStep) throws {
        let schedule = measuredStep.schedule
        self.init(step: step, measured: timeline.metrics,
                  simulated: try PipelineSimulator.simulate(schedule: schedule, actionTimes: measuredStep.actionTimes).metrics,
                  simulatedFromMeans: try PipelineSimulator.simulate(schedule: schedule, actionTimes: measuredStep.meanActionTimes).metrics,
                  transferTime: measuredStep.transferTime, handOffs: measuredStep.handOffs.count)
    }

    /// `|measured − simulated| / simulated` of the bubble fractions; 0 when both are 0 and infinite when only
    /// the simulated one is.
    public var relativeBubbleDifference: Double {
        relativeDifference(measured.bubbleFraction, simulated.bubbleFraction)
    }

    /// The same against ``simulatedFromMeans``.
    public var relativeBubbleDifferenceFromMeans: Double {
        relativeDifference(measured.bubbleFraction, simulatedFromMeans.bubbleFraction)
    }
}

/// A measured run compared with the simulator step by step (issue #7's check: the measured bubble within
/// 10 % of the simulated one), with the medians over the compared steps.
public struct PipelineBubbleComparison: Hashable, Sendable {
    /// The compared steps in ascending order: every recorded step after the first (warm-up), or the only
    /// step when the trace holds one.
    public var steps: [PipelineStepComparison]
    /// The recorded steps left out as warm-up (the first one when the trace holds several).
    public var warmUpSteps: [Int]

    /// - Precondition: `steps` is not empty.
    public init(steps: [PipelineStepComparison], warmUpSteps: [Int]) {
        precondition(!steps.isEmpty, "a bubble comparison needs at least one step")
        self.steps = steps
        self.warmUpSteps = warmUpSteps
    }

    public var medianMeasuredStepTime: Double { median(steps.map(\.measured.stepTime)) }
    public var medianSimulatedStepTime: Double { median(steps.map(\.simulated.stepTime)) }
    public var medianMeasuredBubble: Double { median(steps.map(\.measured.bubbleFraction)) }
    public var medianSimulatedBubble: Double { median(steps.map(\.simulated.bubbleFraction)) }
    public var medianSimulatedBubbleFromMeans: Double { median(steps.map(\.simulatedFromMeans.bubbleFraction)) }
    public var medianTransferTime: Double { median(steps.map(\.transferTime)) }
    /// The median over steps of each step's ``PipelineStepComparison/relativeBubbleDifference``.
    public var medianRelativeBubbleDifference: Double { median(steps.map(\.relativeBubbleDifference)) }
    /// The median over steps of each step's ``PipelineStepComparison/relativeBubbleDifferenceFromMeans``.
    public var medianRelativeBubbleDifferenceFromMeans: Double { median(steps.map(\.relativeBubbleDifferenceFromMeans)) }

    /// A text table: one line per compared step (step time and bubble, measured and simulated from each
    /// action's time, the relative bubble difference, the bubble simulated from per-kind means and its
    /// difference, and the p2p time with the number of hand-offs it is the median of), then the medians;
    /// times in `timeUnit`.
    public func table(timeUnit: String = "ms") -> String {
        let header = ["step", "measured step", "simulated step", "measured bubble", "simulated bubble", "difference",
                      "from means", "difference", "p2p (hand-offs)"]
        func difference(_ value: Double) -> String { value.isFinite ? percent(value) : "∞" }
        let rows = [header] + steps.map { compared in
            [compared.step.map(String.init) ?? "all", "\(formatNumber(compared.measured.stepTime)) \(timeUnit)",
             "\(formatNumber(compared.simulated.stepTime)) \(timeUnit)", percent(compared.measured.bubbleFraction),
             percent(compared.simulated.bubbleFraction), difference(compared.relativeBubbleDifference),
             percent(compared.simulatedFromMeans.bubbleFraction), difference(compared.relativeBubbleDifferenceFromMeans),
             "\(formatNumber(compared.transferTime)) \(timeUnit) (\(compared.handOffs))"]
        } + [["median", "\(formatNumber(medianMeasuredStepTime)) \(timeUnit)", "\(formatNumber(medianSimulatedStepTime)) \(timeUnit)",
              percent(medianMeasuredBubble), percent(medianSimulatedBubble), difference(medianRelativeBubbleDifference),
              percent(medianSimulatedBubbleFromMeans), difference(medianRelativeBubbleDifferenceFromMeans),
              "\(formatNumber(medianTransferTime)) \(timeUnit)"]]
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { cells in
            zip(cells, widths).map { String(repeating: " ", count: $1 - $0.count) + $0 }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

extension PipelineTrace {
    /// Compares every recorded step after the first (the warm-up) with the simulator's predictions for
    /// `kind` given that step's own measured times (``PipelineStepComparison``); a trace of one step, or
    /// whose spans carry no step numbers, is compared as that one step. Expects one row (`pid`) per
    /// pipeline stage and one span per action (as ``PipelineTraceRecorder`` records a run).
    /// - Throws: ``PipelineError/invalidTrace(path:reason:)`` (with `path` as given) when a step has no
    ///   compute span or its spans do not follow `kind`'s schedule; ``PipelineError/invalidParameter(name:value:fix:)``
    ///   when a step does not fit `kind`.
    public func bubbleComparison(kind: PipelineScheduleKind, virtualStages: Int = 1, path: String = "trace") throws
        -> PipelineBubbleComparison {
        let recorded = steps
        let compared: [Int?] = recorded.isEmpty ? [nil] : recorded.count == 1 ? recorded : Array(recorded.dropFirst())
        let comparisons = try compared.map { step in
            let timeline = try self.timeline(title: step.map { "step \($0)" } ?? "trace", step: step, path: path)
            let measured = try timeline.measuredStep(kind: kind, virtualStages: virtualStages, path: path)
            return try PipelineStepComparison(step: step, timeline: timeline, measuredStep: measured)
        }
        return PipelineBubbleComparison(steps: comparisons, warmUpSteps: recorded.count > 1 ? [recorded[0]] : [])
    }
}

extension PipelineTimeline {
    /// This timeline (one step of a real run) matched with `kind`'s schedule on as many stages as it has
    /// rows and as many micro-batches as its compute spans name.
    /// - Throws: ``PipelineError/invalidParameter(name:value:fix:)`` when the timeline does not fit `kind`
    ///   (e.g. a micro-batch count that interleaving cannot use), ``PipelineError/invalidTrace(path:reason:)``
    ///   when its spans do not follow the schedule (``PipelineMeasuredStep/init(_:schedule:path:)``).
    public func measuredStep(kind: PipelineScheduleKind, virtualStages: Int = 1, path: String = "trace") throws
        -> PipelineMeasuredStep {
        let microBatches = (spans.compactMap { $0.kind.compute != nil ? $0.microBatch : nil }.max() ?? -1) + 1
        let schedule = try PipelineSchedule(kind, stages: ranks.count, microBatches: microBatches, virtualStages: virtualStages)
        return try PipelineMeasuredStep(self, schedule: schedule, path: path)
    }
}

/// `|value − reference| / reference`; 0 when both are 0, infinite when only `reference` is.
func relativeDifference(_ value: Double, _ reference: Double) -> Double {
    reference != 0 ? abs(value - reference) / reference : (value == 0 ? 0 : .infinity)
}

/// The middle of `values` (the mean of the two middle ones for an even count).
/// - Precondition: `values` is not empty.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
