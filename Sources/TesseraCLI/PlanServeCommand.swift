import ArgumentParser
import TesseraPlanner

extension WeightFormat: ExpressibleByArgument {}
extension ServingObjective: ExpressibleByArgument {}

/// `tessera plan serve`: weights, KV cache, the fewest GPUs and the best (tp, pp) for serving.
struct PlanServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "How many GPUs a model needs for serving, and the best tensor/pipeline layout.")

    @Option(help: "A catalog model name or the path of a Hugging Face config.json (or its directory).")
    var model: String
    @Option(help: "A catalog GPU name (see `tessera plan list`).")
    var gpu: String
    @Option(help: "Weight format: \(WeightFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var quantization: WeightFormat = .bf16
    @Option(help: "Tokens of context per sequence (default: the model's maximum).")
    var context: Int?
    @Option(help: "Sequences decoded together.")
    var batch = 1
    @Option(help: "Exactly this many GPUs (default: from the fewest that fit up to one node).")
    var gpus: Int?
    @Option(help: "Rank by throughput (tokens/s per GPU) or latency (time per token).")
    var objective: ServingObjective = .throughput
    @Option(help: "Rows in the table.")
    var top = 8
    @Flag(help: "Print JSON: {\"weights_bytes\", \"kv_cache_bytes\", \"min_gpus\", \"layouts\": [...]}.")
    var json = false
    @OptionGroup var catalog: CatalogOptions

    func run() throws {
        let catalog = try catalog.load()
        let job = ServingJob(
            model: try catalog.model(named: model), accelerator: try catalog.accelerator(named: gpu),
            weightFormat: quantization, contextLength: context, batchSize: batch, devices: gpus, objective: objective)
        let plan = try ServingPlanner.run(job)
        if json {
            try printJSON(plan.report(limit: top, naming: .flags))
            return
        }
        print(plan.explanation())
        print()
        guard !plan.ranked.isEmpty else {
            for line in plan.suggestions { print("  - \(line.worded(.flags))") }
            throw ExitCode(2)
        }
        print(plan.table(limit: top))
    }
}
