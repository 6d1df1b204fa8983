import ArgumentParser
import TesseraPlanner

/// `tessera plan train`: the fastest layout that fits, the runners-up, and why.
struct PlanTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Search every (tp, pp, dp, cp, ep, micro-batch, schedule, recompute, ZeRO) layout for a training job.")

    @Option(help: "A catalog model name or the path of a Hugging Face config.json (or its directory).")
    var model: String
    @Option(help: "A catalog GPU name (see `tessera plan list`).")
    var gpu: String
    @Option(help: "Number of GPUs.")
    var gpus: Int
    @Option(name: .customLong("seq-len"), help: "Tokens per sequence.")
    var sequenceLength: Int
    @Option(name: .customLong("global-batch-size"), help: "Sequences per optimizer step.")
    var globalBatchSize: Int
    @Option(help: "Rows in the runners-up table (distinct meshes).")
    var top = 5
    @Option(help: "Layouts in the JSON output, best first.")
    var limit = 20
    @Flag(help: "Print JSON: {\"layouts\": [...]} best first.")
    var json = false
    @OptionGroup var constraints: PlanConstraintOptions
    @OptionGroup var catalog: CatalogOptions

    func run() throws {
        let catalog = try catalog.load()
        let job = TrainingJob(
            model: try catalog.model(named: model), accelerator: try catalog.accelerator(named: gpu), devices: gpus,
            sequenceLength: sequenceLength, globalBatchSize: globalBatchSize)
        let space = constraints.space
        let plan = try TrainingSearch.run(job, space: space, keep: limit, keepMeshes: max(top, 2))
        if json {
            try printJSON(plan.report(limit: limit, space: space))
            return
        }
        print("\(job.model.name) on \(gpus) x \(job.accelerator.name), sequence \(sequenceLength), global batch "
            + "\(globalBatchSize): \(plan.candidatesEvaluated) layouts evaluated, \(plan.fittingCount) fit in memory.")
        print()
        guard !plan.ranked.isEmpty else {
            print("Nothing fits.")
            for line in plan.suggestions(space: space) { print("  - \(line)") }
            throw ExitCode(2)
        }
        print(plan.explanation())
        print()
        print(plan.runnersUpTable(limit: top))
    }
}
