import ArgumentParser
import TesseraPlanner

extension ComputeFormat: ExpressibleByArgument {}

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
    @Option(name: .customLong("compute-format"), help: ArgumentHelp(
        "The format of the layers' matrix products (fp8: the attention core and the LM head stay in BF16, as in "
            + "DeepSeek-V3's FP8 training).", valueName: "format"))
    var computeFormat: ComputeFormat = .bf16
    @Option(help: "Rows in the runners-up table (distinct meshes).")
    var top = 5
    @Option(help: "Layouts in the JSON output, best first.")
    var limit = 20
    @Flag(help: "Print JSON: {\"layouts\": [...]} best first.")
    var json = false
    @Option(help: ArgumentHelp(
        "Compare this layout with the best, term by term (e.g. \"tp8 pp4 dp2 mbs1 1f1b recompute:selective zero1\"; "
            + "what it does not name comes from --framework).", valueName: "layout"))
    var explain: String?
    @OptionGroup var constraints: PlanConstraintOptions
    @OptionGroup var catalog: CatalogOptions

    func run() throws {
        let catalog = try catalog.load()
        let job = TrainingJob(
            model: try catalog.model(named: model), accelerator: try catalog.accelerator(named: gpu), devices: gpus,
            sequenceLength: sequenceLength, globalBatchSize: globalBatchSize, computeFormat: computeFormat)
        let space = constraints.space
        let plan = try TrainingSearch.run(job, space: space, keep: limit, keepMeshes: max(top, 2))
        if json {
            try printJSON(plan.report(limit: limit, space: space, naming: .flags))
            return
        }
        print("\(job.model.name) on \(gpus) x \(job.accelerator.name), sequence \(sequenceLength), global batch "
            + "\(globalBatchSize): \(plan.candidatesEvaluated) layouts evaluated, \(plan.fittingCount) fit in memory.")
        print()
        guard !plan.ranked.isEmpty else {
            print("Nothing fits.")
            for line in plan.suggestions(space: space) { print("  - \(line.worded(.flags))") }
            throw ExitCode(2)
        }
        if let explain {
            let profile = try constraints.profile
            let given = try TrainingSearch.estimate(TrainingLayout(summary: explain, profile: profile), of: job,
                                                    profile: profile)
            print(plan.ranked[0].comparisonTable(with: given, titles: ("best", "given")))
            let slower = given.stepTime / plan.ranked[0].stepTime - 1
            print()
            print("The given layout's step is \(PlanText.percent(slower)) " + (slower >= 0 ? "longer" : "shorter")
                + " than the best's" + (given.fits ? "." : ", and it does not fit in memory."))
            return
        }
        print(plan.explanation())
        print()
        print(plan.runnersUpTable(limit: top))
    }
}
