import ArgumentParser
import Foundation
import TesseraBench
import TesseraModels

/// `tessera bench generate`: the flags of ``GenerateBench``; every run is a process of its own (this executable with
/// `--worker` for Tessera, scripts/bench_llama_generate.py for llama.cpp), each started on quiet CPUs (``QuietMachine``). Per model: batch 1 on each
/// thread count against llama.cpp, then batch `--batch` at the largest thread count and tp `--tp` with one thread
/// per rank, each against Tessera's own batch-1 run; `--repeats` rounds of all of them (``GenerateBench/rounds(_:repeats:measure:)``),
/// reported as medians. Both sides store the key/value cache as `--kv-cache-type` (F16 by default, llama.cpp's default).
struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Prefill and decode speed and peak memory of Tessera and llama.cpp on the same GGUF files, side by side.")

    @Option(help: "GGUF files to run (repeat the flag for several).")
    var model: [String] = ["models/SmolLM2-135M-Instruct.Q4_1.gguf", "models/SmolLM2-135M-Instruct.Q8_0.gguf"]

    @Option(help: "Thread counts to run, comma-separated.")
    var threads = "1,2"

    @Option(name: .customLong("prompt-tokens"), help: "Prompt length, evaluated at once.")
    var promptTokens = 512

    @Option(name: .customLong("decode-tokens"), help: "Greedy tokens decoded one step each after the prompt.")
    var decodeTokens = 256

    @Option(help: "Python with llama-cpp-python installed (make bench-generate makes .build/venv-llama).")
    var python = ".build/venv-llama/bin/python"

    @Option(help: "The llama.cpp peer script.")
    var peerScript = "scripts/bench_llama_generate.py"

    @Option(help: "Also decode this many prompts together (Tessera alone, at the largest thread count); 1 skips it.")
    var batch = 8

    @Option(help: "Also run Tessera on this many tensor-parallel ranks of one thread each (against tp 1 with as many threads); 1 skips it.")
    var tp = 2

    // Five: on the shared 2-core VM single runs of one setting spread by ±15% (tp 2 against tp 1 ran 0.75–1.23×
    // within one command); the median of five moves far less than the median of three.
    @Option(help: "Rounds: each round runs every setting of a model once, interleaved; the table gives medians over the rounds.")
    var repeats = 5

    @Flag(help: "Skip the llama.cpp peer.")
    var noPeer = false

    @OptionGroup var kvCache: KVCacheTypeOption

    @Flag(help: "Run Tessera with every weight dequantized to Float32 (--dequantize) instead of as stored.")
    var dequantize = false

    @Flag(help: .hidden) var worker = false

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func validate() throws {
        guard promptTokens >= 1, decodeTokens >= 1 else { throw ValidationError("--prompt-tokens and --decode-tokens must be at least 1") }
        guard !threadCounts.isEmpty, threadCounts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--threads must be positive integers separated by commas, e.g. 1,2")
        }
        guard batch >= 1, tp >= 1 else { throw ValidationError("--batch and --tp must be at least 1 (1 skips the setting)") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1 (1 runs each setting once)") }
    }

    private var threadCounts: [Int] { threads.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func run() throws {
        let weights: WeightFormat = dequantize ? .float32 : .stored, cacheType = try kvCache.cacheType()
        if worker {
            let workload = GenerateBench.Workload(model: model[0], threads: threadCounts[0], promptTokens: promptTokens, decodeTokens: decodeTokens,
                                                  batch: batch, tp: tp, cacheType: cacheType)
            let run = try GenerateBench.measureTessera(workload, weights: weights)
            print(String(decoding: try JSONEncoder().encode(run), as: UTF8.self))
            return
        }
        var rows: [GenerateBenchReport.Row] = []
        let settings = GenerateBench.settings(threadCounts: threadCounts, batch: batch, tp: tp, peer: !noPeer)
        for path in model {
            let results = try GenerateBench.rounds(settings, repeats: repeats) { setting, round in
                try measure(path, setting, round: round)
            }
            rows += zip(settings, results).map { setting, runs in
                GenerateBenchReport.Row(model: path, threads: setting.threads, batch: setting.batch, tp: setting.tp, tessera: runs.map(\.tessera),
                                        llamaCpp: runs.compactMap(\.llamaCpp))
            }
        }
        let report = GenerateBenchReport(
            date: ISO8601DateFormatter().string(from: Date()), machine: MachineInfo.description(cores: ProcessInfo.processInfo.activeProcessorCount),
            loadAverage: MachineInfo.loadAverage(), command: CommandLine.arguments.joined(separator: " "),
            promptTokens: promptTokens, decodeTokens: decodeTokens, kvCacheType: cacheType.rawValue, repeats: repeats, rows: rows)
        print(report.table)
        if let json { try writeJSON(report, to: json, snakeCaseKeys: true) }
    }

    /// One round's runs of `setting` on `path`: Tessera's in a process of its own (this executable with `--worker`),
    /// then llama.cpp's when the setting has the peer.
    private func measure(_ path: String, _ setting: GenerateBench.Setting, round: Int) throws
        -> (tessera: GenerateBench.Run, llamaCpp: GenerateBench.Run?) {
        let label = "\(path), round \(round + 1)/\(repeats), \(setting.threads) thread(s)"
        Console.log(label + "\(setting.tp > 1 ? " per rank, tp \(setting.tp)" : "")\(setting.batch > 1 ? ", batch \(setting.batch)" : ""): Tessera…")
        var command = [CommandLine.arguments[0], "bench", "generate", "--worker", "--model", path, "--threads", "\(setting.threads)",
                       "--prompt-tokens", "\(promptTokens)", "--decode-tokens", "\(decodeTokens)", "--batch", "\(setting.batch)",
                       "--tp", "\(setting.tp)", "--kv-cache-type", kvCache.text]
        if dequantize { command.append("--dequantize") }
        QuietMachine.settle()
        let tessera = try GenerateBench.runProcess(command)
        guard setting.withPeer else { return (tessera, nil) }
        Console.log(label + ": llama.cpp…")
        let workload = GenerateBench.Workload(model: path, threads: setting.threads, promptTokens: promptTokens, decodeTokens: decodeTokens,
                                              cacheType: try kvCache.cacheType())
        QuietMachine.settle()
        return (tessera, try GenerateBench.runProcess(GenerateBench.llamaCommand(python: python, script: peerScript, workload)))
    }
}
