import ArgumentParser
import Foundation
import TesseraBench

/// `tessera bench moe`: the mixture-of-experts expert layer at ep = 1 on every core against expert parallelism with
/// one core per rank, and the grouped expert product against `cblas_sgemm`.
struct BenchMoE: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moe",
        abstract: "MoE expert layer: ep=1 (all cores) vs ep=cores (one core each), all-to-all share, grouped matmul vs cblas_sgemm.")

    @Option(help: "Cores: ep=1 runs one rank with this many threads, expert parallelism this many ranks of one thread.")
    var cores = 2

    @Option(help: "Alternating rounds of both layouts (medians are reported).")
    var rounds = 5

    @Option(help: "Timed forward+backward steps per round, after one warm-up step.")
    var steps = 5

    @Option(help: "Tokens per step over all ranks.")
    var tokens = 2048

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
        let report = try MoEBench.run(shape: shape, cores: cores, rounds: rounds, steps: steps, machine: BenchCollectives.machine())
        print(report.table())
        if let json { try writeJSON(report, to: json) }
    }
}
