import Foundation
import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel

@Suite(.serialized) struct ModelLayoutTests {
    /// The gathered initial parameters on tp ranks equal the single-device initialization bit for bit.
    @Test(arguments: [(TinyConfigs.gpt2, 2), (TinyConfigs.gpt2, 3), (TinyConfigs.gpt2, 4), (TinyConfigs.llama, 2), (TinyConfigs.llama, 4),
                       (TinyConfigs.qwen2, 2), (TinyConfigs.qwen2, 4)])
    func shardedInitializationIsBitwiseEqual(config: TransformerConfig, tp: Int) throws {
        let single = try Transformer(config: config, seed: 21).fullParameters()
        let gathered = try ThreadGroup.run(ranks: tp, deadline: .seconds(30)) { world in
            try Transformer(config: config, context: LayerContext(tensor: world), seed: 21).fullParameters().map { $0.tensor.scalars }
        }
        for rank in 0..<tp {
            #expect(gathered[rank] == single.map { $0.tensor.scalars })
        }
    }

    /// A checkpoint saved from tp = 2 with sequence parallelism reloads (on tp = 1 and tp = 4) to the same
    /// full tensors, and its config.json round-trips.
    @Test func saveFromTensorParallelAndReload() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-save-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = TinyConfigs.llama
        let saved = try ThreadGroup.run(ranks: 2, deadline: .seconds(30)) { world in
            let groups = try ProcessGroups(world: world, mesh: DeviceMesh(tp: 2))
            let engine = try MeshEngine(config: config, groups: groups, seed: 3, sequenceParallel: true)
            _ = try engine.trainStep(Harness.microBatches(step: 0, count: 1, batch: 2, length: 6, vocabulary: 61),
                                     learningRate: 1e-2, maxGradientNorm: 1)
            try engine.save(toDirectory: directory)
            return try engine.model.fullParameters().map { $0.tensor.scalars }
        }[0]
        #expect(try TransformerConfig(contentsOf: directory) == config)
        let single = try MeshEngine(checkpoint: directory)
        #expect(try single.model.fullParameters().map { $0.tensor.scalars } == saved)
        let four = try ThreadGroup.run(ranks: 4, deadline: .seconds(30)) { world in
            let groups = try ProcessGroups(world: world, mesh: DeviceMesh(tp: 4))
            return try MeshEngine(checkpoint: directory, groups: groups).model.fullParameters().map { $0.tensor.scalars }
        }
        #expect(four[3] == saved)
    }

    @Test func huggingFaceConfigRoundTrips() throws {
        for name in TransformerConfig.presetNames {
            let config = try TransformerConfig.preset(named: name)
            #expect(try TransformerConfig(huggingFaceJSON: config.huggingFaceJSON, path: "config.json") == config)
        }
    }

    @Test func presetSizes() throws {
        #expect(try TransformerConfig.preset(named: "gpt2-small").parameterCount == 124_439_808)
        #expect(try TransformerConfig.preset(named: "smollm2-135m").parameterCount == 134_515_008)
    }
}
