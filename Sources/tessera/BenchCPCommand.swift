import ArgumentParser
import TesseraBench
import TesseraModels
import TesseraParallel

/// `tessera bench cp`: the flags of ``CPBench``.
struct BenchCP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp",
        abstract: "cp=N on N cores (threads backend, one BLAS thread per rank; ring, allgather, a2a) against cp=1 with N BLAS threads, per sequence length.")

    @Option(help: "Model preset or config.json (its context grows to the longest sequence).")
    var config = "demo"

    @Option(name: .customLong("seq-lens"), help: "Comma-separated tokens per sequence.")
    var sequenceLengths = "4096,8192,16384"

    @Option(help: "Context-parallel ranks (and cores).")
    var cp = 2

    @Option(name: .customLong("cp-comm"), help: "Comma-separated context-parallel attentions to measure.")
    var communications = "ring,allgather,a2a"

    @Option(help: "Sequences per step.")
    var batch = 1

    @Option(help: "Untimed warm-up steps.")
    var warmup = 1

    @Option(help: "Timed steps (the median is reported).")
    var steps = 3

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func run() throws {
        let lengths = try sequenceLengths.split(separator: ",").map { text in
            guard let length = Int(text), length >= cp else {
                throw ValidationError("--seq-lens: '\(text)' is not a length of at least cp=\(cp) tokens; use e.g. 4096,8192")
            }
            return length
        }
        let result = try CPBench.measure(TransformerConfig.named(config), configName: config, sequenceLengths: lengths, cp: cp,
                                         communications: communications.split(separator: ",").map { try ContextCommunication(named: String($0)) },
                                         batch: batch, warmup: warmup, steps: steps, progress: Console.log)
        print(result.lines.joined(separator: "\n"))
        if let json { try BenchJSON.write(result.json, to: json) }
    }
}
