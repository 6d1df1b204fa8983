import ArgumentParser
import TesseraBench
import TesseraModels
import TesseraParallel

/// `tessera bench cp`: the flags of ``CPBench`` (the model, batch and repetitions as the other training benches take
/// them; `--seq-lens` instead of `--seq-len`).
struct BenchCP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp",
        abstract: "cp=N on N cores (threads backend, one BLAS thread per rank; ring, allgather, a2a) against cp=1 with N BLAS threads, per sequence length.")

    @OptionGroup var shape: BenchShapeOptions

    @Option(name: .customLong("seq-lens"), help: "Comma-separated tokens per sequence (the model's context grows to the longest).")
    var sequenceLengths = "4096,8192,16384"

    @Option(help: "Context-parallel ranks (and cores).")
    var cp = 2

    @Option(name: .customLong("cp-comm"), help: "Comma-separated context-parallel attentions to measure.")
    var communications = "ring,allgather,a2a"

    @Flag(name: .customLong("attention-only"), help: "Time one layer's attention core alone (forward + backward) against the ideal: one rank's time / cp.")
    var attentionOnly = false

    func run() throws {
        let lengths = try sequenceLengths.split(separator: ",").map { text in
            guard let length = Int(text), length >= cp else {
                throw ValidationError("--seq-lens: '\(text)' is not a length of at least cp=\(cp) tokens; use e.g. 4096,8192")
            }
            return length
        }
        let communications = try communications.split(separator: ",").map { try ContextCommunication(named: String($0)) }
        if attentionOnly {
            let rows = try ContextAttentionBench.measure(shape.shape().config, sequenceLengths: lengths, cp: cp, communications: communications,
                                                         batch: shape.batch, repeats: shape.steps, progress: Console.log)
            print(ContextAttentionBench.lines(rows, configName: shape.config, cp: cp, batch: shape.batch, repeats: shape.steps).joined(separator: "\n"))
            if let json = shape.json {
                try BenchJSON.write(ContextAttentionBench.json(rows, configName: shape.config, cp: cp, batch: shape.batch, repeats: shape.steps), to: json)
            }
            return
        }
        let result = try CPBench.measure(shape.shape().config, configName: shape.config, sequenceLengths: lengths, cp: cp,
                                         communications: communications,
                                         batch: shape.batch, warmup: shape.warmup, steps: shape.steps, progress: Console.log)
        print(result.lines.joined(separator: "\n"))
        if let json = shape.json { try BenchJSON.write(result.json, to: json) }
    }
}
