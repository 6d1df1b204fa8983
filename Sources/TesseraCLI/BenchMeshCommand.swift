import ArgumentParser
import Foundation
import TesseraBench
import TesseraModels

/// `tessera bench mesh`: the flags of ``MeshBench``.
struct BenchMesh: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesh",
        abstract: "Data parallelism (dp=N vs 1 rank), ZeRO-1 optimizer bytes and a dp×pp×tp mesh's MFU, side by side.")

    @Option(help: "Model of the data-parallel and ZeRO runs (preset or config.json).")
    var config = "demo"

    @Option(help: "Sequences per step (global batch) of the data-parallel and ZeRO runs.")
    var batch = 16

    @Option(name: .customLong("micro-batch-size"), help: "Sequences per micro-batch in every data-parallel run.")
    var microBatchSize = 4

    @Option(name: .customLong("seq-len"), help: "Tokens per sequence.")
    var sequenceLength = 128

    @Option(help: "Data-parallel ranks (and cores).")
    var dp = 2

    @Option(name: .customLong("mesh-config"), help: "Model of the 3D run.")
    var meshConfig = "gpt2-small"

    @Option(name: .customLong("mesh-batch"), help: "Global batch of the 3D run.")
    var meshBatch = 8

    @Option(name: .customLong("mesh"), help: "The 3D layout as dp,pp,tp.")
    var mesh = "2,2,2"

    @Flag(name: .customLong("skip-mesh"), help: "Leave out the 3D run (it trains the GPT-2-small shape: minutes).")
    var skipMesh = false

    @Option(help: "Untimed warm-up steps.")
    var warmup = 2

    @Option(help: "Timed steps (medians are reported).")
    var steps = 5

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func run() throws {
        let model = try TransformerConfig.named(config)
        let shape = TrainingBenchmark.Shape(config: model, batch: batch, sequenceLength: sequenceLength)
        let dataParallel = try MeshBench.measureDataParallel(shape, configName: config, microBatchSize: microBatchSize, dp: dp,
                                                             warmup: warmup, steps: steps, progress: Console.log)
        print(dataParallel.lines.joined(separator: "\n"))
        var meshResult: MeshBench.MeshResult?
        if !skipMesh {
            let axes = mesh.split(separator: ",").compactMap { Int($0) }
            guard axes.count == 3 else { throw ValidationError("--mesh takes dp,pp,tp (e.g. 2,2,2), not '\(mesh)'") }
            let meshShape = TrainingBenchmark.Shape(config: try TransformerConfig.named(meshConfig), batch: meshBatch,
                                                    sequenceLength: sequenceLength)
            let result = try MeshBench.measureMesh(meshShape, configName: meshConfig, dp: axes[0], pp: axes[1], tp: axes[2],
                                                   cores: ProcessInfo.processInfo.activeProcessorCount, progress: Console.log)
            print(result.lines.joined(separator: "\n"))
            meshResult = result
        }
        if let json { try BenchJSON.write(MeshBench.json(dataParallel, mesh: meshResult), to: json) }
    }
}
