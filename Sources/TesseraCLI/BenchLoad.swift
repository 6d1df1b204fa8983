import ArgumentParser
import TesseraBench

/// `tessera bench load`: the flags of ``LoadBench``.
struct BenchLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Time opening a GGUF or safetensors checkpoint and dequantizing every tensor to Float32.")

    @Option(help: "A .gguf file, a .safetensors file, or a Hugging Face directory.")
    var model: String = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "Timed runs (after one warm-up); the median is reported.")
    var runs: Int = 5

    @Flag(help: "Skip the gguf-py peer.")
    var noPeer = false

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    func run() throws {
        let report = try LoadBench.measure(model: model, runs: runs, includePeer: !noPeer)
        print(report.table)
        if let json { try writeJSON(report, to: json, snakeCaseKeys: true) }
    }
}
