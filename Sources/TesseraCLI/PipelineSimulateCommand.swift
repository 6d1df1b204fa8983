import ArgumentParser
import TesseraPipeline

/// `tessera pipeline simulate`: one step of a schedule timed from per-action costs.
struct PipelineSimulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Time one step of a pipeline schedule from per-action costs and draw its timeline.",
        discussion: """
            Prints a text timeline (one row per rank), the step time, the bubble fraction (idle time over \
            stages × step time), the peak in-flight activations per rank, and the published bubble formula \
            for comparison. Times are per action: one micro-batch through one chunk, in any unit. Without \
            --weight-time, --backward-time is the whole backward (zb-h1 then splits it in halves); with it, \
            --backward-time is the input gradient B and schedules that do not split run B + W.

            Examples:
              tessera pipeline simulate --schedule 1f1b -p 4 -m 8
              tessera pipeline simulate --schedule interleaved -p 4 -m 8 \\
                --virtual-stages 2 --forward-time 0.5 --backward-time 1 --svg i.svg
              tessera pipeline simulate --schedule zb-h1 -p 4 -m 8 \\
                --backward-time 1 --weight-time 1 --json
            """)

    @Option(help: "The pipeline schedule.")
    var schedule: PipelineScheduleKind

    @Option(name: [.customShort("p"), .long], help: "Pipeline stages (ranks), p ≥ 1.")
    var stages: Int

    @Option(name: [.customShort("m"), .long], help: "Micro-batches per step, m ≥ 1 (a multiple of p for interleaved).")
    var microBatches: Int

    @Option(help: "Model chunks per rank, v (interleaved only; each chunk holds 1/v of a rank's layers).")
    var virtualStages: Int = 1

    @Option(help: "F: time of one forward action.")
    var forwardTime: Double = 1

    @Option(help: "B: time of one backward action (the input gradient when --weight-time is given).")
    var backwardTime: Double = 2

    @Option(help: "W: time of one weight-gradient action (split from the backward by zb-h1).")
    var weightTime: Double?

    @Option(help: "Time from posting a send to the data arriving at the next stage.")
    var p2pTime: Double = 0

    @Flag(help: "Print the figures as JSON instead of the text timeline.")
    var json = false

    @Option(help: "Write an SVG picture of the timeline to this file.")
    var svg: String?

    @Option(help: "Write the timeline as a Chrome/Perfetto trace (one time unit = 1 ms) to this file.")
    var trace: String?

    @Option(help: "Width of the text timeline in characters.")
    var width: Int = 120

    func run() throws {
        let config = try PipelineScheduleConfig(kind: schedule, stages: stages, microBatches: microBatches,
                                                virtualStages: virtualStages)
        let costs = PipelineCosts(forward: forwardTime, backwardInput: backwardTime, backwardWeight: weightTime,
                                  transfer: p2pTime)
        let simulation = try PipelineSimulator.simulate(schedule: PipelineSchedule(config), costs: costs)
        let formula = config.publishedBubbleFraction(costs: costs)
        let notes = simulation.notes(config: config)
        if let svg { try simulation.timeline.writeSVG(to: svg, notes: notes) }
        if let trace { try PipelineTrace(simulation.timeline).write(to: trace) }
        if json {
            try printJSON(SimulationReport(config: config, simulation: simulation, formula: formula))
        } else {
            print(simulation.timeline.text(width: width), terminator: "")
            notes.forEach { print($0) }
        }
    }
}

/// The `--json` output of `tessera pipeline simulate`.
struct SimulationReport: Encodable {
    var schedule: String
    var stages: Int
    var microBatches: Int
    var virtualStages: Int
    var forwardTime: Double
    var backwardTime: Double
    var weightTime: Double?
    var p2pTime: Double
    var stepTime: Double
    var bubbleFraction: Double
    var formulaBubbleFraction: Double?
    var idleTime: [Double]
    var peakActivations: [Int]

    init(config: PipelineScheduleConfig, simulation: PipelineSimulation, formula: Double?) {
        schedule = config.kind.rawValue
        stages = config.stages
        microBatches = config.microBatches
        virtualStages = config.virtualStages
        forwardTime = simulation.costs.forward[0]
        backwardTime = simulation.costs.backwardInput[0]
        weightTime = simulation.costs.backwardWeight?[0]
        p2pTime = simulation.costs.transfer
        stepTime = simulation.stepTime
        bubbleFraction = simulation.bubbleFraction
        formulaBubbleFraction = formula
        idleTime = simulation.metrics.idleTime
        peakActivations = simulation.peakActivations
    }

    private enum CodingKeys: String, CodingKey {
        case schedule, stages, microBatches = "micro_batches", virtualStages = "virtual_stages",
             forwardTime = "forward_time", backwardTime = "backward_time", weightTime = "weight_time",
             p2pTime = "p2p_time", stepTime = "step_time", bubbleFraction = "bubble_fraction",
             formulaBubbleFraction = "formula_bubble_fraction", idleTime = "idle_time",
             peakActivations = "peak_activations"
    }
}
