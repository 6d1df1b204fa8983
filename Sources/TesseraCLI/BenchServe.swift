import ArgumentParser
import Foundation
import TesseraBench

/// `tessera bench serve`: `tessera serve` against llama.cpp's `llama-server` with continuous batching, on the same
/// GGUF file, the same prompts and the same load generator, one server after the other.
struct BenchServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Throughput and latency of tessera serve against llama-server (continuous batching) at several concurrencies.")

    @Option(help: "The GGUF file both servers load.")
    var model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(name: .customLong("llama-server"), help: "The llama-server binary (make bench-serve builds it).")
    var llamaServer = ".build/llama-server/bin/llama-server"

    @Flag(help: "Skip llama-server.")
    var noPeer = false

    @Flag(help: "Skip tessera generate's single-sequence speed.")
    var noGenerate = false

    @Option(help: "Concurrencies, comma-separated; the first must be 1 (its answers are the reference).")
    var concurrency = "1,4,16"

    @Option(name: .customLong("max-tokens"), help: "Greedy tokens per answer.")
    var maxTokens = 64

    @Option(help: "Tokens of context per sequence (tessera serve --context; llama-server -c is this times its slots).")
    var context = 512

    @Option(help: "Rounds per concurrency (medians of tokens/s; latency percentiles over every round).")
    var rounds = 1

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    private var levels: [Int] { concurrency.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard levels.first == 1, levels.allSatisfy({ (1...ServeLoad.prompts.count).contains($0) }) else {
            throw ValidationError("--concurrency must list integers in 1...\(ServeLoad.prompts.count), the first 1, e.g. 1,4,16")
        }
        guard maxTokens >= 1, rounds >= 1 else { throw ValidationError("--max-tokens and --rounds must be at least 1") }
        guard context > maxTokens else { throw ValidationError("--context \(context) must exceed --max-tokens \(maxTokens)") }
        guard FileManager.default.fileExists(atPath: model) else { throw ValidationError("--model \(model) does not exist; make assets fetches it") }
        if !noPeer, !FileManager.default.isExecutableFile(atPath: llamaServer) {
            throw ValidationError("--llama-server \(llamaServer) is not an executable; make bench-serve builds it, or pass --no-peer")
        }
    }

    func run() throws {
        let prompts = ServeLoad.prompts, slots = levels.max()!, tessera = CommandLine.arguments[0]
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let servers: [(name: String, command: [String], port: Int?)] = [
            ("tessera serve", [tessera, "serve", "--model", model, "--port", "0", "--max-batch", "\(slots)", "--context", "\(context)",
                               "--served-model-name", "bench"], nil),
        ] + (noPeer ? [] : [try llamaServerCommand(slots: slots, threads: cores)])
        var runs: [ServeBench.ServerRun] = []
        for server in servers {
            Console.log("\(server.name): starting (\(server.command.joined(separator: " ")))…")
            let process = try ServerProcess(server.command, port: server.port)
            defer { process.stop() }
            let load = ServeLoad(port: process.port, model: "bench", prompts: prompts, maxTokens: maxTokens)
            runs.append(try ServeBench.measure(load, name: server.name, command: server.command.joined(separator: " "),
                                               concurrencies: levels, rounds: rounds, progress: Console.log))
        }
        var generate: Double?
        if !noGenerate {
            Console.log("tessera generate on each prompt alone…")
            generate = try ServeBench.generateRate(tessera: tessera, model: model, prompts: prompts, maxTokens: maxTokens)
        }
        let report = ServeBenchReport(
            date: ISO8601DateFormatter().string(from: Date()), machine: MachineInfo.description(cores: cores),
            loadAverage: MachineInfo.loadAverage(), command: CommandLine.arguments.joined(separator: " "), prompts: prompts.count,
            maxTokens: maxTokens, contextPerSequence: context, servers: runs, generateTokensPerSecond: generate)
        print(report.table)
        if let json { try writeJSON(report, to: json, snakeCaseKeys: true) }
    }

    /// llama-server with continuous batching: a slot per concurrent request, `context` tokens each, every core.
    private func llamaServerCommand(slots: Int, threads: Int) throws -> (name: String, command: [String], port: Int?) {
        let port = try LoopbackHTTP.freePort()
        return ("llama-server", [llamaServer, "-m", model, "--host", "127.0.0.1", "--port", "\(port)", "-np", "\(slots)", "-cb",
                                 "-c", "\(context * slots)", "-t", "\(threads)", "-tb", "\(threads)", "--alias", "bench"], port)
    }
}
