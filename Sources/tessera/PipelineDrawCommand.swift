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
            step after the first (warm-up) with the simulator's prediction for that schedule timed with the \
            step's own per-stage mean action times, and prints each step and the medians over the steps, \
            since one step on a busy machine is noisy.

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
        let simulated = try schedule.map { try timeline.simulatedCounterpart(kind: $0, virtualStages: virtualStages) }
        let comparison = try schedule.map { try file.bubbleComparison(kind: $0, virtualStages: virtualStages, path: trace) }
        if json {
            try printJSON(TraceReport(step: chosen, ranks: timeline.ranks, metrics: timeline.metrics,
                                      simulatedBubbleFraction: simulated?.bubbleFraction,
                                      comparison: comparison.map(BubbleComparisonReport.init)))
        } else {
            print(timeline.text(width: width), terminator: "")
            if let simulated, let comparison {
                print("simulated \(simulated.timeline.title) with the measured per-action times (ms):")
                print("  " + simulated.timeline.figures)
                let warmUp = comparison.warmUpSteps.map { " (step \($0) left out as warm-up)" }.joined()
                print("measured against simulated, each step with its own per-action times\(warmUp):")
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

        private enum CodingKeys: String, CodingKey {
            case step, measuredStepTimeMs = "measured_step_time_ms", simulatedStepTimeMs = "simulated_step_time_ms",
                 measuredBubbleFraction = "measured_bubble_fraction", simulatedBubbleFraction = "simulated_bubble_fraction",
                 relativeBubbleDifference = "relative_bubble_difference"
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
                 relativeBubbleDifference: finite($0.relativeBubbleDifference))
        }
        median = Step(step: nil, measuredStepTimeMs: comparison.medianMeasuredStepTime,
                      simulatedStepTimeMs: comparison.medianSimulatedStepTime,
                      measuredBubbleFraction: comparison.medianMeasuredBubble,
                      simulatedBubbleFraction: comparison.medianSimulatedBubble,
                      relativeBubbleDifference: finite(comparison.medianRelativeBubbleDifference))
    }

    private enum CodingKeys: String, CodingKey { case warmUpSteps = "warm_up_steps", steps, median }
}
