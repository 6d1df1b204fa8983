import Foundation
import Testing
import TesseraCollectives
import TesseraModels

@Suite struct BadInputTests {
    @Test func headsNotDivisibleByTensorParallelListsValidChoices() throws {
        let config = try TransformerConfig.preset(named: "smollm2-135m")
        // tp = 9 would split the heads but not the 1536 MLP features, so the valid choices are 1 and 3.
        let error = ModelError.indivisibleByTensorParallel(what: "attention heads", count: 9, tp: 2, valid: [1, 3])
        #expect(throws: error) { try config.validate(tp: 2) }
        #expect(error.description == "9 attention heads are not divisible by tp=2; use tp ∈ {1, 3}")
        // 4 query heads, 2 key/value heads: tp = 3 splits neither.
        #expect(throws: ModelError.self) { try Transformer(config: TinyConfigs.llama, seed: 0).config.validate(tp: 3) }
    }

    @Test func unknownPresetNamesTheChoices() {
        #expect(throws: ModelError.unknownPreset(name: "gpt5", available: TransformerConfig.presetNames)) {
            try TransformerConfig.named("gpt5")
        }
    }

    @Test func layoutThatDoesNotUseEveryRankIsRejected() throws {
        #expect(throws: MeshError.self) { try DeviceMesh(ranks: 4, tp: 3) }
        let errors = try ThreadGroup.run(ranks: 2, deadline: .seconds(10)) { world -> String in
            do {
                _ = try ProcessGroups(world: world, mesh: DeviceMesh(tp: 4))
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(errors[0].contains("does not use exactly 2 ranks"))
    }

    /// A config.json whose shapes contradict the weights names the file, the tensor and both shapes.
    @Test func configContradictingWeightsIsNamed() throws {
        let source = Bundle.module.url(forResource: "Fixtures/gpt2-tiny", withExtension: nil)!
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-bad-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(at: source, to: directory)
        var config = try TransformerConfig(contentsOf: directory.path)
        config.contextLength = 32
        try config.writeHuggingFaceConfig(toDirectory: directory.path)
        do {
            _ = try MeshEngine(checkpoint: directory.path)
            Issue.record("loaded weights that contradict config.json")
        } catch let error as ModelError {
            guard case let .shapeMismatch(file, tensor, expected, actual) = error else { throw error }
            #expect(file.hasPrefix(directory.path) && tensor == "transformer.wpe.weight")
            #expect(expected == [32, 32] && actual == [16, 32])
            #expect(error.description.contains("fix the config"))
        }
    }

    @Test func unreadableConfigNamesTheFile() {
        #expect(throws: ModelError.self) { try TransformerConfig(contentsOf: "/nonexistent/config.json") }
        #expect(throws: ModelError.self) { try TransformerConfig(huggingFaceJSON: #"{"model_type": "bert"}"#, path: "x/config.json") }
        #expect(throws: ModelError.self) { try TransformerConfig(huggingFaceJSON: #"{"model_type": "gpt2", "n_embd": "big"}"#, path: "c") }
    }

    @Test func tokensOutsideTheVocabularyAndOverlongSequencesAreRejected() throws {
        let engine = try MeshEngine(config: TinyConfigs.gpt2, seed: 1)
        let bad = try MicroBatch(tokens: [1, 2, 61, 3], targets: [2, 3, 4, 5], batch: 1, length: 4)
        #expect(throws: ModelError.tokenOutOfRange(id: 61, position: 2, vocabularySize: 61)) {
            try engine.trainStep([bad], learningRate: 1e-3, maxGradientNorm: nil)
        }
        let long = try MicroBatch(tokens: Array(repeating: 1, count: 17), targets: Array(repeating: 1, count: 17), batch: 1, length: 17)
        #expect(throws: ModelError.self) { try engine.evaluate(long) }
        #expect(throws: ModelError.self) { try MicroBatch(tokens: [1, 2, 3], targets: nil, batch: 2, length: 2) }
    }
}
