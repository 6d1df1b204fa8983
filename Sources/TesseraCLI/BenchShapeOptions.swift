import ArgumentParser
import TesseraBench
import TesseraModels

/// The shape and repetitions `tessera bench train`, `tessera bench tp` and `tessera bench cp` share.
struct BenchShapeOptions: ParsableArguments {
    @Option(help: "Model preset or config.json.")
    var config = "gpt2-small"

    @Option(help: "Use only this many layers (a quick smoke run; a peer gets the same).")
    var layers: Int?

    @Option(help: "Sequences per step.")
    var batch = 4

    @Option(name: .customLong("seq-len"), help: "Tokens per sequence.")
    var sequenceLength = 256

    @Option(help: "Untimed warm-up steps.")
    var warmup = 2

    @Option(help: "Timed steps (the median is reported).")
    var steps = 5

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func shape() throws -> TrainingBenchmark.Shape {
        var model = try TransformerConfig.named(config)
        if let layers { model.layers = layers }
        return TrainingBenchmark.Shape(config: model, batch: batch, sequenceLength: sequenceLength)
    }
}
