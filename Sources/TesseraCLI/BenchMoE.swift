import ArgumentParser
import Foundation
import TesseraBench
import TesseraModels

/// `tessera bench moe`: the mixture-of-experts expert layer at ep = 1 on every core against expert parallelism with
/// one core per rank, the grouped expert product against `cblas_sgemm`, and whole-model training steps of a MoE preset
/// at both layouts.
struct BenchMoE: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moe",
        abstract: "MoE expert layer and whole-model training: ep=1 (all cores) vs ep=cores (one core each), all-to-all share, grouped matmul vs cblas_sgemm.")

    @Option(help: "Cores: ep=1 runs one rank with this many threads, expert parallelism this many ranks of one thread.")
    var cores = 2

    @Option(help: "Alternating rounds of both layouts, expert layer and whole model (medians are reported).")
    var rounds = 5

    @Option(help: "Timed forward+backward steps per round, after one warm-up step.")
    var steps = 5

    @Option(help: "Tokens per step over all ranks.")
    var tokens = 2048

    @Option(name: .customLong("model-config"),
            help: "A mixture-of-experts preset of the whole-model rows (repeat for several; default small-moe, Mixtral's proportions at a size for 2 cores, tiny-moe, and small-qwen-moe, whose shared expert also runs without its overlap).")
    var modelConfigs: [String] = ["small-moe", "tiny-moe", "small-qwen-moe"]

    @Option(name: .customLong("model-batch"), help: "Sequences per whole-model training step (a multiple of --cores).")
    var modelBatch = 8

    @Option(name: .customLong("model-seq-len"), help: "Tokens per sequence of the whole-model rows (default: the preset's context, at most 128).")
    var modelSequenceLength: Int?

    @Option(name: .customLong("model-steps"), help: "Timed whole-model training steps per layout, after one warm-up step (0 skips the rows).")
    var modelSteps = 3

    @Flag(name: .customLong("forced-balance"), inversion: .prefixedNo,
          help: "Also train each preset with its router forced to balance (round-robin, as torchtitan's debug_moe_force_load_balance), rows beside the learned router's.")
    var forcedBalance = true

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func run() throws {
        guard cores >= 1, rounds >= 1, steps >= 1 else { throw ValidationError("--cores, --rounds and --steps must be at least 1") }
        var shape = MoEBench.Shape()
        shape.tokens = tokens
        guard tokens >= cores, tokens % cores == 0 else { throw ValidationError("--tokens must be a positive multiple of --cores") }
        guard shape.experts % cores == 0 else {
            throw ValidationError("--cores must divide the \(shape.experts) experts (ep = cores); use 1, 2, 4 or 8")
        }
        guard modelSteps == 0 || (modelBatch >= cores && modelBatch % cores == 0) else {
            throw ValidationError("--model-batch must be a positive multiple of --cores (each of the ep ranks trains its share)")
        }
        var report = try MoEBench.run(shape: shape, cores: cores, rounds: rounds, steps: steps, machine: BenchCollectives.machine())
        if modelSteps > 0 {
            report.models = try modelConfigs.flatMap { name in
                let config = try TransformerConfig.preset(named: name)
                let length = modelSequenceLength ?? min(128, config.contextLength)
                let variants: [MoEBench.ModelVariant] = [.learned] + (forcedBalance ? [.forcedBalance] : [])
                    + (config.moe?.sharedExpertIntermediateSize != nil ? [.sharedExpertNotOverlapped] : [])
                return try variants.map { variant in
                    try MoEBench.measureModel(configName: name, batch: modelBatch, sequenceLength: length, cores: cores, rounds: rounds,
                                              warmup: 1, steps: modelSteps, variant: variant, progress: Console.log)
                }
            }
        }
        print(report.table())
        if let json { try writeJSON(report, to: json) }
    }
}
