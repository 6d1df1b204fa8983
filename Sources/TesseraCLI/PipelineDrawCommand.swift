import ArgumentParser
import TesseraPipeline

/// `tessera pipeline draw`: the timeline of a real run's trace, and its measured bubble.
struct PipelineDraw: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "draw",
        abstract: "Draw a Chrome/Perfetto pipeline trace and measure its bubble.",
        discussion: """
            Reads the trace that `tessera train --trace FILE.json` writes (complete "X" events, one pid per \
            rank, cat forward/backward/backward-input/backward-weight/communication), prints a text timeline \
            with the measured step time, bubble fraction (idle compute time over ranks × step time) and peak \
            in-flight activations per rank, and writes an SVG picture with --svg. When the spans carry a \
            step number, one step is drawn (the last unless --step is given), since time between steps \
            (optimizer, data loading) is not pipeline bubble. With --schedule, it also compares every recorded \
            step after the first (warm-up) with the simulator's prediction for that schedule given the step's \
            own measured times: each action's span (compute, and the posting of each send), the gaps between \
            actions, and as p2p time the median hand-off (from a send's start to the end of a receive that was \
            already waiting). Both sides count only compute as busy. It prints each step and the medians, \
            since one step on a busy machine is noisy, and also the prediction from each rank's mean time per \
            kind of action (the per-stage F, B, W and p2p model).

            Example:
              tessera pipeline draw run.trace.json --svg run.svg --schedule 1f1b
            """)

    @Argument(help: "The trace file (JSON).")
    var trace: String

    @Option(help: "Write an SVG picture of the timeline to this file.")
    var svg: String?

    @Option(help: "Which training step to draw (default: the last step recorded in the trace).")
    var step: Int?

    @Option(help: "The schedule the run used, to compare its bubble with the simulator's.")
    var schedule: PipelineScheduleKind?

    @Option(help: "Model chunks per rank of an interleaved run.")
    var virtualStages: Int = 1

    @Flag(help: "Print the measured figures as JSON instead of the text timeline.")
    var json = false

    @Option(help: "Width of the text timeline in characters.")
    var width: Int = 120

    func run() throws {
        let file = try PipelineTrace(contentsOf: trace)
        let steps = file.steps
        if let step, !steps.contains(step) {
            throw PipelineError.invalidTrace(path: trace, reason: steps.isEmpty
                ? "its spans carry no step numbers; leave out --step"
                : "it has no step \(step); its steps are \(steps.map(String.init).joined(separator: ", "))")
        }
        let chosen = step ?? steps.last
        let name = trace.split(separator: "/").last.map(String.init) ?? trace
        let timeline = try file.timeline(title: name + (chosen.map { " step \($0)" } ?? ""), step: chosen, path: trace)
        if let svg { try timeline.writeSVG(to: svg) }
        let measured = try schedule.map { try timeline.measuredStep(kind: $0, virtualStages: virtualStages, path: trace) }
        let simulated = try measured.map { try PipelineSimulator.simulate(schedule: $0.schedule, actionTimes: $0.actionTimes) }
        let comparison = try schedule.map { try file.bubbleComparison(kind: $0, virtualStages: virtualStages, path: trace) }
        if json {
            try printJSON(TraceReport(step: chosen, ranks: timeline.ranks, metrics: timeline.metrics,
                                      simulatedBubbleFraction: simulated?.metrics.bubbleFraction,
                                      comparison: comparison.map(BubbleComparisonReport.init)))
        } else {
            print(timeline.text(width: width), terminator: "")
            if let measured, let simulated, let comparison {
                print("simulated \(simulated.title) given each action's measured time and p2p \((measured.transferTime * 1000).rounded() / 1000) ms "
                    + "(median of \(measured.handOffs.count) hand-offs):")
                print("  " + simulated.figures)
                let warmUp = comparison.warmUpSteps.map { " (step \($0) left out as warm-up)" }.joined()
                print("measured against simulated, each step with its own measured times\(warmUp); "
                    + "\"from means\": each rank's mean time per kind of action:")
                print(comparison.table(), terminator: "")
            }
        }
    }
}

/// The `--json` output of `tessera pipeline draw`.
struct TraceReport: Encodable {
    var step: Int?
    var ranks: [Int]
    var stepTimeMs: Double
    var bubbleFraction: Double
    var idleTimeMs: [Double]
    var peakActivations: [Int]
    var simulatedBubbleFraction: Double?
    var comparison: BubbleComparisonReport?

    init(step: Int?, ranks: [Int], metrics: PipelineTimelineMetrics, simulatedBubbleFraction: Double?,
         comparison: BubbleComparisonReport?) {
        self.step = step
        self.ranks = ranks
        stepTimeMs = metrics.stepTime
        bubbleFraction = metrics.bubbleFraction
        idleTimeMs = metrics.idleTime
        peakActivations = metrics.peakActivations
        self.simulatedBubbleFraction = simulatedBubbleFraction
        self.comparison = comparison
    }

    private enum CodingKeys: String, CodingKey {
        case step, ranks, stepTimeMs = "step_time_ms", bubbleFraction = "bubble_fraction", idleTimeMs = "idle_time_ms",
             peakActivations = "peak_activations", simulatedBubbleFraction = "simulated_bubble_fraction", comparison
    }
}

/// The per-step comparison in `tessera pipeline draw --json`; a relative difference that is not finite
/// (a simulated bubble of 0) is `null`.
struct BubbleComparisonReport: Encodable {
    struct Step: Encodable {
        var step: Int?
        var measuredStepTimeMs, simulatedStepTimeMs, measuredBubbleFraction, simulatedBubbleFraction: Double
        var relativeBubbleDifference: Double?
        var simulatedFromMeansBubbleFraction: Double
        var relativeBubbleDifferenceFromMeans: Double?
        var p2pTimeMs: Double
        var handOffs: Int?

        private enum CodingKeys: String, CodingKey {
            case step, measuredStepTimeMs = "measured_step_time_ms", simulatedStepTimeMs = "simulated_step_time_ms",
                 measuredBubbleFraction = "measured_bubble_fraction", simulatedBubbleFraction = "simulated_bubble_fraction",
                 relativeBubbleDifference = "relative_bubble_difference",
                 simulatedFromMeansBubbleFraction = "simulated_from_means_bubble_fraction",
                 relativeBubbleDifferenceFromMeans = "relative_bubble_difference_from_means", p2pTimeMs = "p2p_time_ms",
                 handOffs = "hand_offs"
        }
    }

    var warmUpSteps: [Int]
    var steps: [Step]
    var median: Step

    init(_ comparison: PipelineBubbleComparison) {
        func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }
        warmUpSteps = comparison.warmUpSteps
        steps = comparison.steps.map {
            Step(step: $0.step, measuredStepTimeMs: $0.measured.stepTime, simulatedStepTimeMs: $0.simulated.stepTime,
                 measuredBubbleFraction: $0.measured.bubbleFraction, simulatedBubbleFraction: $0.simulated.bubbleFraction,
                 relativeBubbleDifference: finite($0.relativeBubbleDifference),
                 simulatedFromMeansBubbleFraction: $0.simulatedFromMeans.bubbleFraction,
                 relativeBubbleDifferenceFromMeans: finite($0.relativeBubbleDifferenceFromMeans),
                 p2pTimeMs: $0.transferTime, handOffs: $0.handOffs)
        }
        median = Step(step: nil, measuredStepTimeMs: comparison.medianMeasuredStepTime,
                      simulatedStepTimeMs: comparison.medianSimulatedStepTime,
                      measuredBubbleFraction: comparison.medianMeasuredBubble,
                      simulatedBubbleFraction: comparison.medianSimulatedBubble,
                      relativeBubbleDifference: finite(comparison.medianRelativeBubbleDifference),
                      simulatedFromMeansBubbleFraction: comparison.medianSimulatedBubbleFromMeans,
                      relativeBubbleDifferenceFromMeans: finite(comparison.medianRelativeBubbleDifferenceFromMeans),
                      p2pTimeMs: comparison.medianTransferTime, handOffs: nil)
    }

    private enum CodingKeys: String, CodingKey { case warmUpSteps = "warm_up_steps", steps, median }
}
