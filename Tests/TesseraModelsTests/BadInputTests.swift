import Foundation
import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel

@Suite struct BadInputTests {
    /// Uneven splits are fine (SmolLM2's 9 heads on tp = 2); only a tp above the query heads is refused, naming them
    /// and the valid tp, through the layout check too.
    @Test func tensorParallelAboveTheHeadsListsValidChoices() throws {
        let config = try TransformerConfig.preset(named: "smollm2-135m")
        for tp in 1...9 { try config.validate(tp: tp) }
        #expect(config.validTensorParallelSizes() == Array(1...9))
        let error = ModelError.tensorParallelTooLarge(what: "attention heads", count: 9, tp: 10)
        #expect(throws: error) { try config.validate(tp: 10) }
        #expect(error.description == "tp=10 is more than the 9 attention heads, so a rank would hold none; use tp ∈ {1, 2, …, 9}")
        let layout = try ParallelConfig(tp: 5)
        #expect(throws: ParallelConfigError.tensorParallelTooLarge(what: "attention heads", count: 4, tp: 5)) {
            try layout.validate(model: TinyConfigs.llama)
        }
        #expect(ParallelConfigError.tensorParallelTooLarge(what: "attention heads", count: 4, tp: 5).description
            == "tp=5 is more than the 4 attention heads, so a rank would hold none; use tp ∈ {1, 2, 3, 4}")
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
