import ArgumentParser
import TesseraBench
import TesseraModels

/// `tessera bench tp`: the flags of ``TPBench``.
struct BenchTP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tp",
        abstract: "tp=N on N cores (threads backend, one BLAS thread per rank) against tp=1 with N BLAS threads.")

    @OptionGroup var shape: BenchShapeOptions

    @Option(help: "Tensor-parallel ranks (and cores).")
    var tp = 2

    @Flag(name: .customLong("sequence-parallel"), help: "Also split norms and residuals over the sequence.")
    var sequenceParallel = false

    func run() throws {
        let shape = try self.shape.shape()
        try shape.config.validate(tp: tp)
        let result = try TPBench.measure(shape, configName: self.shape.config, layers: self.shape.layers, tp: tp,
                                         sequenceParallel: sequenceParallel, warmup: self.shape.warmup, steps: self.shape.steps,
                                         progress: Console.log)
        print(result.lines.joined(separator: "\n"))
        if let json = self.shape.json { try BenchJSON.write(result.json, to: json) }
    }
}
