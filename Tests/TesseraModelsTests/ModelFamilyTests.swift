import Testing
import TesseraModels
import TesseraNN

/// The family descriptions and their name mappings, without running a model: every parameter has one name per
/// format and the name leads back to it; a configuration that contradicts its family is refused with a message
/// that names the family and what it needs.
@Suite struct ModelFamilyTests {
    static func tiny(_ family: ModelFamily, kvHeads: Int = 2) -> TransformerConfig {
        TransformerConfig(family: family, vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4,
                          kvHeads: family.attention.projection == .fused ? 4 : kvHeads, intermediateSize: 64, tiedEmbeddings: false)
    }

    static func roles(_ config: TransformerConfig) -> [ParameterRole] {
        let family = config.family
        return [.tokenEmbedding] + (family.positions == .learned ? [.positionEmbedding] : [])
            + (0..<config.layers).flatMap(family.blockRoles) + family.finalNormRoles + [.head]
    }

    @Test(arguments: ModelFamily.all.map(\.name))
    func everyParameterHasOneNamePerFormatThatLeadsBack(_ name: String) throws {
        let config = Self.tiny(ModelFamily.all.first { $0.name == name }!)
        let roles = Self.roles(config)
        let names = roles.map(config.name(of:)), stored = roles.map { config.ggufLayout(of: $0).name }
        #expect(Set(names).count == roles.count && Set(stored).count == roles.count)
        #expect(roles.map { config.family.huggingFace.role(of: config.name(of: $0)) } == roles)
        #expect(names.map { config.ggufLayout(of: $0).name } == stored)
        #expect(config.parameterSpecs(context: .single).map(\.name) == (config.tiedEmbeddings ? Array(names.dropLast()) : names),
                "specs follow the roles; a tied head is the embedding")
        #expect(config.family.huggingFace.role(of: "model.layers.x.self_attn.q_proj.weight") == nil)
        #expect(config.ggufLayout(of: "unknown.weight").name == "unknown.weight")
    }

    @Test func aConfigurationThatContradictsItsFamilyIsRefused() throws {
        var grouped = Self.tiny(.gpt2)
        grouped.attention.kvHeads = 2
        #expect(throws: ModelError.invalidConfiguration(
            field: "attention heads",
            reason: "gpt2 fuses queries, keys and values into one projection: it needs hidden size (32) = heads (4) × head size and no grouped-query attention")) {
            try grouped.validate()
        }
        var layerNormLlama = Self.tiny(.llama)
        layerNormLlama.norm.kind = .layerNorm
        #expect(throws: ModelError.invalidConfiguration(
            field: "architecture", reason: "llama uses rmsNorm, swiglu, rotary positions and a tied or untied head")) {
            try layerNormLlama.validate()
        }
        #expect(throws: ModelError.invalidConfiguration(
            field: "architecture", reason: "gpt2 uses layerNorm, gelu, learned positions and a tied head")) {
            var untied = Self.tiny(.gpt2)
            untied.tiedEmbeddings = false
            try untied.validate()
        }
    }

    /// A mixture-of-experts family can be described but not built yet.
    @Test func aMixtureOfExpertsFamilyIsDescribedButRefused() throws {
        let llama = ModelFamily.llama
        let experts = ModelFamily(
            name: "experts", attention: llama.attention, norm: llama.norm, positions: llama.positions,
            feedForward: .mixtureOfExperts(activation: .swiglu, sharedExpert: false), headTying: llama.headTying,
            weightLayout: llama.weightLayout, scalesResidualInitialization: false, huggingFace: llama.huggingFace, gguf: llama.gguf)
        #expect(throws: ModelError.invalidConfiguration(
            field: "architecture", reason: "experts has mixture-of-experts layers, which Tessera does not build yet")) {
            try Self.tiny(experts).validate()
        }
    }
}
