import ArgumentParser
import Foundation
import TesseraPipeline

/// `tessera pipeline …`: pipeline schedules simulated and drawn, and traces of real runs drawn.
struct Pipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate pipeline schedules and draw their timelines, or draw the trace of a real run.",
        discussion: """
            Schedules: gpipe (all forwards, then all backwards), 1f1b (PipeDream-Flush), interleaved \
            (Megatron's interleaved 1F1B with --virtual-stages chunks per rank), zb-h1 (zero-bubble H1: \
            backward split into input-gradient B and weight-gradient W).
            """,
        subcommands: [PipelineSimulate.self, PipelineDraw.self])
}

extension PipelineScheduleKind: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}
