import Foundation
import Testing
import TesseraModels
import TesseraPlanner

/// The planner's model of a model Tessera builds comes from its ``ModelFamily`` description: its parameter count is
/// the count of the parameters Tessera allocates, for every family, and a Hugging Face config.json read by the
/// planner's own reader describes the same model.
@Suite struct TransformerConfigArchitectureTests {
    /// A small model of `family` (grouped-query attention where the family allows it).
    static func tiny(_ family: ModelFamily, tied: Bool) -> TransformerConfig {
        TransformerConfig(family: family, vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4,
                          kvHeads: family.attention.projection == .fused ? 4 : 2, intermediateSize: 64, tiedEmbeddings: tied)
    }

    @Test(arguments: ModelFamily.all.map(\.name), [true, false])
    func parameterCountIsTheAllocatedCount(_ family: String, tied: Bool) throws {
        let config = Self.tiny(ModelFamily.all.first { $0.name == family }!, tied: tied)
        #expect(ModelArchitecture(config, name: family).totalParameters == Double(config.parameterCount))
    }

    @Test(arguments: ["gpt2-small", "smollm2-135m"])
    func presetsCountAsAllocated(_ preset: String) throws {
        let config = try TransformerConfig.preset(named: preset)
        #expect(ModelArchitecture(config, name: preset).totalParameters == Double(config.parameterCount))
    }

    /// The family's description and the planner's config.json reader agree on a Qwen2 (query/key/value biases only).
    @Test func qwen2ConfigJSONReadsTheSameWayInBothReaders() throws {
        let config = Self.tiny(.qwen2, tied: true)
        let path = try temporaryFile("config.json", config.huggingFaceJSON)
        let read = try HuggingFaceConfig.load(path: path).architecture(name: "qwen2", path: path)
        #expect(read == ModelArchitecture(config, name: "qwen2", source: path))
        #expect(read.biases == .queryKeyValue)
    }
}
