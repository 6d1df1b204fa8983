import ArgumentParser
import TesseraServe
import TesseraTrain

/// `tessera serve`: an OpenAI-compatible HTTP server with continuous batching.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over OpenAI's HTTP API (completions, chat completions) with continuous batching.")

    @OptionGroup var model: ModelArguments

    @Option(help: "Address to listen on (loopback by default).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: a free port, named in the ready line).")
    var port = 8000

    @Option(name: .customLong("max-batch"), help: "Most sequences decoded together.")
    var maxBatch = 16

    @Option(name: .customLong("max-queue"), help: "Most sequences waiting for the batch; more get 429.")
    var maxQueue = 256

    @Option(help: "Context length to serve (default: the model's); prompt plus max_tokens must fit it.")
    var context: Int?

    @Option(name: .customLong("kv-blocks"),
            help: "Key/value cache blocks of 16 tokens per rank, shared by the running sequences (default: one full context or 512 tokens per --max-batch sequence, whichever is more).")
    var kvBlocks: Int?

    @OptionGroup var kvCache: KVCacheTypeOption

    @Option(name: .customLong("api-key"), help: "Require 'Authorization: Bearer KEY' on the API paths.")
    var apiKey: String?

    @Option(name: .customLong("served-model-name"), help: "The model name clients send (default: the file or directory name).")
    var servedModelName: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port) must lie in 0...65535 (0 picks a free port)") }
        guard maxBatch >= 1 else { throw ValidationError("--max-batch \(maxBatch) must be at least 1") }
        guard maxQueue >= 1 else { throw ValidationError("--max-queue \(maxQueue) must be at least 1") }
        if let kvBlocks, kvBlocks < 1 { throw ValidationError("--kv-blocks \(kvBlocks) must be at least 1") }
        if let context, context < 2 { throw ValidationError("--context \(context) must be at least 2") }
    }

    func run() throws {
        let location = try model.location()
        let modelContext = try location.config().contextLength
        if let context, context > modelContext {
            throw ValidationError("--context \(context) exceeds the model's context of \(modelContext) tokens")
        }
        let name = servedModelName ?? String(location.path.split(separator: "/").last ?? Substring(location.path))
        let parallel = try model.parallel
        var runner = ServeRunner(location: location, parallel: parallel, launcher: try model.launch.launcher(),
                                 launch: model.launch.options(ranks: parallel.ranks),
                                 limits: SchedulerLimits(maxBatch: maxBatch, maxQueue: maxQueue),
                                 frontEnd: FrontEndOptions(host: host, port: port, apiKey: apiKey, servedName: name))
        runner.contextLimit = context
        runner.kvBlocks = kvBlocks
        runner.kvCacheType = try kvCache.cacheType()
        try runner.run()
    }
}
