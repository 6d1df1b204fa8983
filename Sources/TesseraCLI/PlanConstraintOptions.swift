import ArgumentParser
import TesseraPipeline
import TesseraPlanner

/// `tessera plan train` options that narrow the search to what a framework offers or a recipe fixes (a
/// reproduction of a published run keeps its micro-batch size and schedule and lets the mesh vary).
struct PlanConstraintOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Only what this software offers, with its overlaps: "
            + SoftwareProfile.known.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")
            + ". Default: everything the planner models.",
        valueName: "name"))
    var framework: String?
    @Option(name: .customLong("micro-batch-size"), help: "Only this micro-batch size (repeat for several).")
    var microBatchSizes: [Int] = []
    @Option(name: .customLong("schedule"), help: "Only this pipeline schedule: gpipe, 1f1b, interleaved, zb-h1 (repeat for several).")
    var schedules: [String] = []
    @Option(name: .customLong("layers-per-virtual-stage"),
            help: "Layers per model chunk, as Megatron-LM's --num-layers-per-virtual-pipeline-stage: one interleaving per pp.")
    var layersPerVirtualStage: Int?
    @Option(name: .customLong("tp"), help: "Only this tensor-parallel size (repeat for several).")
    var tensorParallelSizes: [Int] = []
    @Option(name: .customLong("pp"), help: "Only this pipeline-parallel size (repeat for several).")
    var pipelineParallelSizes: [Int] = []

    func validate() throws {
        _ = try profile
        for (name, values) in [("micro-batch-size", microBatchSizes), ("tp", tensorParallelSizes), ("pp", pipelineParallelSizes)] {
            if let bad = values.first(where: { $0 < 1 }) {
                throw ValidationError("--\(name) must be at least 1, got \(bad)")
            }
        }
        if let layersPerVirtualStage, layersPerVirtualStage < 1 {
            throw ValidationError("--layers-per-virtual-stage must be at least 1, got \(layersPerVirtualStage)")
        }
        for name in schedules where PipelineScheduleKind(rawValue: name) == nil {
            throw ValidationError("unknown --schedule '\(name)'; use one of: "
                + PipelineScheduleKind.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    /// The software `--framework` names (everything the planner models without it).
    /// - Throws: ``PlannerError/unknownFramework(name:known:)`` listing the known names.
    var profile: SoftwareProfile {
        get throws { try framework.map(SoftwareProfile.named) ?? .everything }
    }

    /// The search space these options describe.
    var space: TrainingSearchSpace {
        var space = ((try? profile) ?? .everything).space
        if !microBatchSizes.isEmpty {
            space.microBatchSizes = Set(microBatchSizes)
            space.maxMicroBatchSize = max(space.maxMicroBatchSize, microBatchSizes.max() ?? 0)
        }
        let kinds = schedules.compactMap(PipelineScheduleKind.init(rawValue:))
        if !kinds.isEmpty { space.schedules = space.schedules.intersection(kinds) }
        if let layersPerVirtualStage { space.layersPerVirtualStage = layersPerVirtualStage }
        if !tensorParallelSizes.isEmpty { space.tensorParallelSizes = Set(tensorParallelSizes) }
        if !pipelineParallelSizes.isEmpty { space.pipelineParallelSizes = Set(pipelineParallelSizes) }
        return space
    }
}
