import Testing
import TesseraModels
import TesseraNN
import TesseraParallel

/// The family descriptions and their name mappings, without running a model: every parameter has one name per
/// format and the name leads back to it; a configuration that contradicts its family is refused with a message
/// that names the family and what it needs.
@Suite struct ModelFamilyTests {
    static func tiny(_ family: ModelFamily, kvHeads: Int = 2) -> TransformerConfig {
        var config = TransformerConfig(family: family, vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4,
                                       kvHeads: family.attention.projection == .fused ? 4 : kvHeads, intermediateSize: 64, tiedEmbeddings: false)
        if family.feedForward.isMixtureOfExperts {
            config.moe = .init(router: RouterConfiguration(experts: 4, topK: 2, normalizesTopK: true), expertIntermediateSize: 64,
                               sharedExpertIntermediateSize: family.feedForward.hasSharedExpert ? 40 : nil)
        }
        return config
    }

    static func roles(_ config: TransformerConfig) -> [ParameterRole] {
        let family = config.family
        return [.tokenEmbedding] + (family.positions == .learned ? [.positionEmbedding] : [])
            + (0..<config.layers).flatMap(config.blockRoles) + family.finalNormRoles + [.head]
    }

    @Test(arguments: ModelFamily.all.map(\.name))
    func everyParameterHasOneNamePerFormatThatLeadsBack(_ name: String) throws {
        let config = Self.tiny(ModelFamily.all.first { $0.name == name }!)
        let roles = Self.roles(config)
        let names = roles.map(config.name(of:)), stored = roles.map { config.ggufLayout(of: $0).name }
        // Routed experts share llama.cpp's stacked tensor of their layer and projection, each at its own index.
        #expect(Set(names).count == roles.count && Set(roles.map { config.ggufLayout(of: $0) }).count == roles.count)
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

    /// A mixture-of-experts family needs its experts; a dense family refuses them.
    @Test func expertsArePresentExactlyForMixtureOfExpertsFamilies() throws {
        var bare = Self.tiny(.mixtral)
        bare.moe = nil
        #expect(throws: ModelError.invalidConfiguration(field: "num_experts", reason: "mixtral is a mixture of experts: give its experts, top-k and expert size")) {
            try bare.validate()
        }
        var dense = Self.tiny(.llama)
        dense.moe = Self.tiny(.mixtral).moe
        #expect(throws: ModelError.self) { try dense.validate() }
        var unshared = Self.tiny(.qwen2MoE)
        unshared.moe?.sharedExpertIntermediateSize = nil
        #expect(throws: ModelError.invalidConfiguration(field: "shared_expert_intermediate_size", reason: "qwen2_moe has a shared expert: give its positive size")) {
            try unshared.validate()
        }
    }
}
