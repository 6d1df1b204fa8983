// A measured run's bubble against the simulator's, step by step, summarized by medians so that one noisy
// step does not decide the comparison.

/// One step of a measured run beside the simulator's prediction for that step's own per-action times.
public struct PipelineStepComparison: Hashable, Sendable {
    /// The trace's step number (`nil` when the trace's spans carry none and the whole trace is one step).
    public var step: Int?
    /// Step time, bubble and peak activations measured on the trace's spans of this step.
    public var measured: PipelineTimelineMetrics
    /// The simulator's figures for the same schedule timed with this step's per-stage mean action times
    /// (``PipelineTimeline/simulatedCounterpart(kind:virtualStages:)``).
    public var simulated: PipelineTimelineMetrics

    public init(step: Int?, measured: PipelineTimelineMetrics, simulated: PipelineTimelineMetrics) {
        self.step = step
        self.measured = measured
        self.simulated = simulated
    }

    /// `|measured − simulated| / simulated` of the bubble fractions; 0 when both are 0 and infinite when only
    /// the simulated one is.
    public var relativeBubbleDifference: Double {
        relativeDifference(measured.bubbleFraction, simulated.bubbleFraction)
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
    /// The median over steps of each step's ``PipelineStepComparison/relativeBubbleDifference``.
    public var medianRelativeBubbleDifference: Double { median(steps.map(\.relativeBubbleDifference)) }

    /// A text table: one line per compared step (step time and bubble, measured and simulated, and the
    /// relative bubble difference), then the medians; times in `timeUnit`.
    public func table(timeUnit: String = "ms") -> String {
        let header = ["step", "measured step", "simulated step", "measured bubble", "simulated bubble", "difference"]
        func row(_ name: String, _ stepTimes: (Double, Double), _ bubbles: (Double, Double), _ difference: Double) -> [String] {
            [name, "\(formatNumber(stepTimes.0)) \(timeUnit)", "\(formatNumber(stepTimes.1)) \(timeUnit)",
             percent(bubbles.0), percent(bubbles.1), difference.isFinite ? percent(difference) : "∞"]
        }
        let rows = [header] + steps.map { compared in
            row(compared.step.map(String.init) ?? "all", (compared.measured.stepTime, compared.simulated.stepTime),
                (compared.measured.bubbleFraction, compared.simulated.bubbleFraction), compared.relativeBubbleDifference)
        } + [row("median", (medianMeasuredStepTime, medianSimulatedStepTime),
                 (medianMeasuredBubble, medianSimulatedBubble), medianRelativeBubbleDifference)]
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { cells in
            zip(cells, widths).map { String(repeating: " ", count: $1 - $0.count) + $0 }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

extension PipelineTrace {
    /// Compares every recorded step after the first (the warm-up) with the simulator's prediction for
    /// `kind` timed with that step's own per-stage mean action times; a trace of one step, or whose spans
    /// carry no step numbers, is compared as that one step. Expects one row (`pid`) per pipeline stage.
    /// - Throws: ``PipelineError/invalidTrace(path:reason:)`` (with `path` as given) when a step has no
    ///   compute span; ``PipelineError/invalidParameter(name:value:fix:)`` when a step does not fit `kind`.
    public func bubbleComparison(kind: PipelineScheduleKind, virtualStages: Int = 1, path: String = "trace") throws
        -> PipelineBubbleComparison {
        let recorded = steps
        let compared: [Int?] = recorded.isEmpty ? [nil] : recorded.count == 1 ? recorded : Array(recorded.dropFirst())
        let comparisons = try compared.map { step in
            let timeline = try self.timeline(title: step.map { "step \($0)" } ?? "trace", step: step, path: path)
            let simulated = try timeline.simulatedCounterpart(kind: kind, virtualStages: virtualStages)
            return PipelineStepComparison(step: step, measured: timeline.metrics, simulated: simulated.metrics)
        }
        return PipelineBubbleComparison(steps: comparisons, warmUpSteps: recorded.count > 1 ? [recorded[0]] : [])
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
