import TesseraFormats
import TesseraParallel

/// The model configuration in GGUF metadata, as llama.cpp's converter writes it for each ``ModelFamily``'s
/// ``GGUFNaming/architecture`` (`{arch}.context_length`, `{arch}.embedding_length`, …; gguf-py's `Keys.LLM`/`Keys.Attention`).
/// Reading and writing share one key table, so a written file reads back to the same configuration.
extension TransformerConfig {
    /// The architectures a GGUF file may declare in `general.architecture`.
    public static let ggufArchitectures = ModelFamily.all.map(\.gguf.architecture).reduce(into: [String]()) {
        if !$0.contains($1) { $0.append($1) }
    }

    /// The configuration a GGUF file of a known architecture describes. The vocabulary is `{arch}.vocab_size`, else
    /// the token list's length, else the embedding's rows; embeddings are tied when the file has no `output.weight`,
    /// and always for a family whose head is always tied (GPT-2: a file's `output.weight`, if any, must equal `token_embd`).
    /// - Throws: ``ModelError/invalidFile(path:reason:)`` for another architecture, missing or mistyped metadata or
    ///   an untied head the family cannot have; ``ModelError`` from ``validate()``.
    public init(gguf file: GGUFFile) throws {
        // llama.cpp stores Mixtral as `llama` with experts.
        let routed = (file.architecture.flatMap { file.metadata["\($0).expert_count"]?.int } ?? 0) > 0
        guard let name = file.architecture, let family = ModelFamily.all.first(where: { $0.gguf.architecture == name && $0.feedForward.isMixtureOfExperts == routed })
                ?? ModelFamily.all.first(where: { $0.gguf.architecture == name }) else {
            throw ModelError.invalidFile(path: file.path, reason: "GGUF architecture \"\(file.architecture ?? "none")\" is not supported; Tessera reads \(ModelFamily.phrase(Self.ggufArchitectures)) GGUF files")
        }
        let keys = GGUFConfigKeys(family)
        func value(_ key: String) -> GGUFValue? { file.metadata[key] }
        func int(_ key: String) throws -> Int? {
            guard let v = value(key) else { return nil }
            guard let i = v.int else { throw ModelError.invalidFile(path: file.path, reason: "metadata \(key) must be an integer, not \(v)") }
            return i
        }
        func required(_ key: String) throws -> Int {
            guard let v = try int(key) else { throw ModelError.invalidFile(path: file.path, reason: "metadata \(key) is missing") }
            return v
        }
        func float(_ key: String) throws -> Float? {
            guard let v = value(key) else { return nil }
            guard let d = v.double else { throw ModelError.invalidFile(path: file.path, reason: "metadata \(key) must be a number, not \(v)") }
            return Float(d)
        }
        let hidden = try required(keys.embeddingLength), heads = try required(keys.headCount)
        let vocabulary = try int(keys.vocabularySize) ?? value("tokenizer.ggml.tokens")?.array?.count
            ?? file.requireInfo(named: "token_embd.weight").shape[0]
        let kvHeads = try int(keys.kvHeadCount) ?? heads
        if family.attention.projection == .fused, kvHeads != heads {
            throw ModelError.invalidFile(path: file.path, reason: "\(keys.kvHeadCount) is \(kvHeads) but \(name) has no grouped-query attention (\(heads) heads)")
        }
        if family.headTying == .always { try Self.checkTiedHead(file, family: family) }
        var config = TransformerConfig(
            family: family, vocabularySize: vocabulary, contextLength: try required(keys.contextLength), hiddenSize: hidden,
            layers: try required(keys.blockCount), heads: heads, kvHeads: kvHeads, intermediateSize: try required(keys.feedForwardLength),
            ropeTheta: try float(keys.ropeTheta) ?? 10_000, epsilon: try float(keys.epsilon) ?? 1e-5,
            tiedEmbeddings: !file.contains("output.weight"))
        if family.positions == .rotary {
            config.attention.headDim = try int(keys.keyLength) ?? int(keys.ropeDimensions) ?? hidden / max(1, heads)
        }
        config.bosTokenId = try int("tokenizer.ggml.bos_token_id")
        config.eosTokenId = try int("tokenizer.ggml.eos_token_id")
        if family.feedForward.isMixtureOfExperts {
            let router = RouterConfiguration(experts: try required(keys.expertCount), topK: try required(keys.expertUsedCount),
                                             normalizesTopK: value(keys.expertWeightsNorm)?.bool ?? (family == .mixtral))
            config.moe = .init(router: router, expertIntermediateSize: try int(keys.expertFeedForwardLength) ?? config.mlp.intermediateSize,
                               sharedExpertIntermediateSize: family.feedForward.hasSharedExpert ? try required(keys.sharedFeedForwardLength) : nil)
        }
        try config.validate()
        try config.checkNothingIsLeftOut(file, scaling: value("\(name).rope.scaling.type")?.string, experts: try int("\(name).expert_count"))
        self = config
    }

    /// Refuses what the file holds beyond this configuration (rope scaling, experts, biases, extra tensors)
    /// rather than loading a different model silently.
    private func checkNothingIsLeftOut(_ file: GGUFFile, scaling: String?, experts: Int?) throws {
        func refuse(_ what: String) -> ModelError {
            ModelError.invalidFile(path: file.path, reason: "\(what) is not supported; Tessera's \(family.name) has none")
        }
        if let scaling, scaling != "none" { throw refuse("rope scaling '\(scaling)'") }
        if let experts, experts > 0, moe == nil { throw refuse("a mixture of \(experts) experts") }
        // A tied head may still be stored (checked against the embedding for GPT-2).
        let expected = Set(parameterSpecs(context: .single).map { ggufLayout(of: $0.name).name } + ["output.weight"])
        if let extra = file.tensorNames.first(where: { !expected.contains($0) }) { throw refuse("tensor '\(extra)'") }
    }

    /// The configuration as GGUF metadata, under the keys and value types llama.cpp's converter uses
    /// (`general.architecture`, `{arch}.*`; tokenizer keys are the tokenizer's business).
    public var ggufMetadata: [(key: String, value: GGUFValue)] {
        let keys = GGUFConfigKeys(family)
        func count(_ value: Int) -> GGUFValue { .uint32(UInt32(value)) }
        var pairs: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string(family.gguf.architecture)),
            (keys.contextLength, count(contextLength)), (keys.embeddingLength, count(hiddenSize)),
            (keys.blockCount, count(layers)), (keys.feedForwardLength, count(mlp.intermediateSize)),
            (keys.headCount, count(attention.heads)), (keys.epsilon, .float32(norm.epsilon)),
            (keys.vocabularySize, count(vocabularySize)),
        ]
        if family.positions == .rotary {
            pairs += [
                (keys.kvHeadCount, count(attention.kvHeads)), (keys.ropeTheta, .float32(attention.ropeTheta ?? 10_000)),
                (keys.ropeDimensions, count(attention.headDim)), (keys.keyLength, count(attention.headDim)),
                (keys.valueLength, count(attention.headDim)),
            ]
        }
        if let moe {
            pairs += [(keys.expertCount, count(moe.router.experts)), (keys.expertUsedCount, count(moe.router.topK)),
                      (keys.expertFeedForwardLength, count(moe.expertIntermediateSize)), (keys.expertWeightsNorm, .bool(moe.router.normalizesTopK))]
            if let shared = moe.sharedExpertIntermediateSize { pairs.append((keys.sharedFeedForwardLength, count(shared))) }
        }
        return pairs
    }

    /// A family whose head is always tied (GPT-2) may still store it: llama.cpp's GPT-2 files normally have no
    /// `output.weight`, and one that differs from the embedding is another model.
    private static func checkTiedHead(_ file: GGUFFile, family: ModelFamily) throws {
        guard file.contains("output.weight") else { return }
        let head = try file.storedTensor(named: "output.weight"), embedding = try file.storedTensor(named: "token_embd.weight")
        guard head == embedding else {
            throw ModelError.invalidFile(path: file.path, reason: "output.weight differs from token_embd.weight; Tessera's \(family.name) ties its LM head to the embedding")
        }
    }
}

/// The `{arch}.*` metadata keys of one architecture (gguf-py `constants.py`, `Keys.LLM`, `Keys.Attention`, `Keys.Rope`).
private struct GGUFConfigKeys {
    let contextLength, embeddingLength, blockCount, feedForwardLength, vocabularySize: String
    let headCount, kvHeadCount, keyLength, valueLength, epsilon, ropeTheta, ropeDimensions: String
    let expertCount, expertUsedCount, expertFeedForwardLength, sharedFeedForwardLength, expertWeightsNorm: String

    init(_ family: ModelFamily) {
        let a = family.gguf.architecture
        contextLength = "\(a).context_length"
        embeddingLength = "\(a).embedding_length"
        blockCount = "\(a).block_count"
        feedForwardLength = "\(a).feed_forward_length"
        vocabularySize = "\(a).vocab_size"
        headCount = "\(a).attention.head_count"
        kvHeadCount = "\(a).attention.head_count_kv"
        keyLength = "\(a).attention.key_length"
        valueLength = "\(a).attention.value_length"
        // LayerNorm models store `layer_norm_epsilon`, RMSNorm models `layer_norm_rms_epsilon`.
        epsilon = family.norm == .layerNorm ? "\(a).attention.layer_norm_epsilon" : "\(a).attention.layer_norm_rms_epsilon"
        ropeTheta = "\(a).rope.freq_base"
        ropeDimensions = "\(a).rope.dimension_count"
        expertCount = "\(a).expert_count"
        expertUsedCount = "\(a).expert_used_count"
        expertFeedForwardLength = "\(a).expert_feed_forward_length"
        sharedFeedForwardLength = "\(a).expert_shared_feed_forward_length"
        expertWeightsNorm = "\(a).expert_weights_norm"
    }
}
