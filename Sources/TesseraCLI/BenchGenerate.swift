import ArgumentParser
import Foundation
import TesseraBench
import TesseraModels

/// `tessera bench generate`: the flags of ``GenerateBench``; every run is a process of its own (this executable with
/// `--worker` for Tessera, scripts/bench_llama_generate.py for llama.cpp), back to back. Per model: batch 1 on each
/// thread count against llama.cpp, then batch `--batch` at the largest thread count and tp `--tp` with one thread
/// per rank, each against Tessera's own batch-1 run. Both sides store the key/value cache as `--kv-cache-type` (F16 by
/// default, llama.cpp's default).
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
        for path in model {
            for count in threadCounts {
                let tessera = try tesseraRun(path, threads: count, batch: 1, tp: 1)
                Console.log("\(path), \(count) thread(s): llama.cpp…")
                let workload = GenerateBench.Workload(model: path, threads: count, promptTokens: promptTokens, decodeTokens: decodeTokens,
                                                      cacheType: cacheType)
                let peer = noPeer ? nil : try GenerateBench.runProcess(GenerateBench.llamaCommand(python: python, script: peerScript, workload))
                rows.append(.init(model: path, threads: count, tessera: tessera, llamaCpp: peer))
            }
            let most = threadCounts.max()!
            if batch > 1 {
                rows.append(.init(model: path, threads: most, batch: batch, tessera: try tesseraRun(path, threads: most, batch: batch, tp: 1), llamaCpp: nil))
            }
            if tp > 1 {
                rows.append(.init(model: path, threads: 1, tp: tp, tessera: try tesseraRun(path, threads: 1, batch: 1, tp: tp), llamaCpp: nil))
            }
        }
        let report = GenerateBenchReport(
            date: ISO8601DateFormatter().string(from: Date()), machine: MachineInfo.description(cores: ProcessInfo.processInfo.activeProcessorCount),
            loadAverage: MachineInfo.loadAverage(), command: CommandLine.arguments.joined(separator: " "),
            promptTokens: promptTokens, decodeTokens: decodeTokens, kvCacheType: cacheType.rawValue, rows: rows)
        print(report.table)
        if let json { try writeJSON(report, to: json, snakeCaseKeys: true) }
    }

    /// Tessera's run of `path` in a process of its own (this executable with `--worker`).
    private func tesseraRun(_ path: String, threads: Int, batch: Int, tp: Int) throws -> GenerateBench.Run {
        Console.log("\(path), \(threads) thread(s)\(tp > 1 ? " per rank, tp \(tp)" : "")\(batch > 1 ? ", batch \(batch)" : ""): Tessera…")
        var command = [CommandLine.arguments[0], "bench", "generate", "--worker", "--model", path, "--threads", "\(threads)",
                       "--prompt-tokens", "\(promptTokens)", "--decode-tokens", "\(decodeTokens)", "--batch", "\(batch)", "--tp", "\(tp)",
                       "--kv-cache-type", kvCache.text]
        if dequantize { command.append("--dequantize") }
        return try GenerateBench.runProcess(command)
    }
}
