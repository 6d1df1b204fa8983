import Foundation

/// The fields of a Hugging Face `config.json` the planner reads, for the llama, mistral, mixtral, qwen2,
/// qwen2_moe, gpt2, deepseek_v2 and deepseek_v3 model types (with DeepSeek-V3's multi-token-prediction modules). Every field is optional here; ``architecture(name:path:)``
/// says which ones a model type needs.
public struct HuggingFaceConfig: Decodable, Sendable {
    var model_type: String?
    // Llama-style names.
    var hidden_size: Int?
    var num_hidden_layers: Int?
    var num_attention_heads: Int?
    var num_key_value_heads: Int?
    var head_dim: Int?
    var intermediate_size: Int?
    var vocab_size: Int?
    var max_position_embeddings: Int?
    var tie_word_embeddings: Bool?
    var attention_bias: Bool?
    var attention_dropout: Double?
    var hidden_dropout: Double?
    // GPT-2 names.
    var n_embd: Int?
    var n_layer: Int?
    var n_head: Int?
    var n_inner: Int?
    var n_positions: Int?
    var n_ctx: Int?
    var resid_pdrop: Double?
    var attn_pdrop: Double?
    var embd_pdrop: Double?
    // Mixture of experts.
    var num_local_experts: Int?
    var n_routed_experts: Int?
    var num_experts: Int?
    var num_experts_per_tok: Int?
    var moe_intermediate_size: Int?
    var n_shared_experts: Int?
    var shared_expert_intermediate_size: Int?
    var first_k_dense_replace: Int?
    var moe_layer_freq: Int?
    var decoder_sparse_step: Int?
    var n_group: Int?
    var topk_group: Int?
    // Latent attention.
    var q_lora_rank: Int?
    var kv_lora_rank: Int?
    var qk_rope_head_dim: Int?
    var qk_nope_head_dim: Int?
    var v_head_dim: Int?
    // Multi-token prediction (DeepSeek-V3).
    var num_nextn_predict_layers: Int?

    /// Reads `path` as a config.json.
    /// - Throws: ``PlannerError/unreadableFile(path:reason:)`` or ``PlannerError/invalidConfigField(field:path:reason:)``
    ///   when a field has the wrong type.
    public static func load(path: String) throws -> HuggingFaceConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PlannerError.unreadableFile(path: path, reason: "no such file or not readable")
        }
        return try decode(data, path: path)
    }

    static func decode(_ data: Data, path: String) throws -> HuggingFaceConfig {
        do {
            return try JSONDecoder().decode(HuggingFaceConfig.self, from: data)
        } catch let DecodingError.typeMismatch(_, context) {
            throw PlannerError.invalidConfigField(
                field: context.codingPath.map(\.stringValue).joined(separator: "."), path: path,
                reason: "has the wrong type (\(context.debugDescription))")
        } catch {
            throw PlannerError.unreadableFile(path: path, reason: "not valid JSON (\(error))")
        }
    }

    /// The model this config describes.
    /// - Parameters:
    ///   - name: the model's name in reports.
    ///   - path: the file (or catalog entry) for error messages.
    /// - Throws: ``PlannerError/missingConfigField(field:path:)`` naming the first required field that is absent,
    ///   ``PlannerError/invalidConfigField(field:path:reason:)`` for zero or inconsistent sizes.
    public func architecture(name: String, path: String, source: String? = nil) throws -> ModelArchitecture {
        func required(_ value: Int?, _ field: String) throws -> Int {
            guard let value else { throw PlannerError.missingConfigField(field: field, path: path) }
            guard value > 0 else {
                throw PlannerError.invalidConfigField(field: field, path: path, reason: "must be positive, got \(value)")
            }
            return value
        }
        let type = model_type ?? (n_embd != nil ? "gpt2" : "llama")
        var model: ModelArchitecture
        if type == "gpt2" {
            let h = try required(n_embd, "n_embd")
            let pdrop = max(resid_pdrop ?? 0.1, attn_pdrop ?? 0.1, embd_pdrop ?? 0.1)
            model = ModelArchitecture(
                name: name, source: source ?? path, hiddenSize: h, layers: try required(n_layer, "n_layer"),
                attentionHeads: try required(n_head, "n_head"), ffnSize: n_inner ?? 4 * h,
                vocabularySize: try required(vocab_size, "vocab_size"),
                maxPositions: try required(n_positions ?? n_ctx, "n_positions"), tiedEmbeddings: true,
                learnedPositions: true, gatedMLP: false, biases: .all, layerNormWithBias: true, dropout: pdrop > 0)
        } else {
            let h = try required(hidden_size, "hidden_size")
            let heads = try required(num_attention_heads, "num_attention_heads")
            let expertCount = num_local_experts ?? n_routed_experts ?? num_experts ?? 0
            let isMoE = expertCount > 1
            // Mixtral names the expert size `intermediate_size`; DeepSeek uses it for its dense layers.
            let denseFFN = isMoE && moe_intermediate_size == nil && first_k_dense_replace == nil
                ? (intermediate_size ?? 0) : try required(intermediate_size, "intermediate_size")
            let biases: ModelArchitecture.Biases =
                type.hasPrefix("qwen2") ? .queryKeyValue : (attention_bias == true ? .all : .none)
            model = ModelArchitecture(
                name: name, source: source ?? path, hiddenSize: h,
                layers: try required(num_hidden_layers, "num_hidden_layers"), attentionHeads: heads,
                keyValueHeads: try required(num_key_value_heads ?? heads, "num_key_value_heads"),
                headDim: head_dim, ffnSize: denseFFN, vocabularySize: try required(vocab_size, "vocab_size"),
                maxPositions: try required(max_position_embeddings, "max_position_embeddings"),
                tiedEmbeddings: tie_word_embeddings ?? false, learnedPositions: false, gatedMLP: true, biases: biases,
                layerNormWithBias: false, dropout: max(attention_dropout ?? 0, hidden_dropout ?? 0) > 0)
            if isMoE {
                let expertFFN = try required(moe_intermediate_size ?? intermediate_size, "moe_intermediate_size")
                let shared = shared_expert_intermediate_size ?? (n_shared_experts ?? 0) * expertFFN
                model.moe = MixtureOfExperts(
                    experts: expertCount, expertsPerToken: try required(num_experts_per_tok, "num_experts_per_tok"),
                    expertFFNSize: expertFFN, sharedFFNSize: shared, firstDenseLayers: first_k_dense_replace ?? 0,
                    layerFrequency: moe_layer_freq ?? decoder_sparse_step ?? 1,
                    routingGroups: (n_group ?? 1) > 1 ? n_group : nil,
                    routingGroupsPerToken: (n_group ?? 1) > 1 ? topk_group : nil,
                    sharedExpertGate: type.hasPrefix("qwen2_moe") && shared > 0)
                if let moe = model.moe, moe.expertsPerToken > moe.experts {
                    throw PlannerError.invalidConfigField(
                        field: "num_experts_per_tok", path: path,
                        reason: "(\(moe.expertsPerToken)) exceeds the number of experts (\(moe.experts))")
                }
            }
            if let rank = kv_lora_rank {
                let rope = try required(qk_rope_head_dim, "qk_rope_head_dim")
                let nope = try required(qk_nope_head_dim, "qk_nope_head_dim")
                let value = try required(v_head_dim, "v_head_dim")
                model.latentAttention = LatentAttention(
                    queryRank: q_lora_rank ?? 0, keyValueRank: try required(rank, "kv_lora_rank"), ropeHeadDim: rope,
                    nopeHeadDim: nope, valueHeadDim: value)
                model.headDim = nope + rope
                model.valueHeadDim = value
            }
            if let depth = num_nextn_predict_layers {
                guard depth >= 0 else {
                    throw PlannerError.invalidConfigField(
                        field: "num_nextn_predict_layers", path: path, reason: "must be 0 or more, got \(depth)")
                }
                model.predictionModules = depth
            }
        }
        try Self.check(model, path: path, explicitHeadDim: head_dim != nil || kv_lora_rank != nil)
        return model
    }

    private static func check(_ model: ModelArchitecture, path: String, explicitHeadDim: Bool) throws {
        guard explicitHeadDim || model.hiddenSize % model.attentionHeads == 0 else {
            throw PlannerError.invalidConfigField(
                field: "num_attention_heads", path: path,
                reason: "(\(model.attentionHeads)) must divide the hidden size (\(model.hiddenSize)) or set head_dim")
        }
        guard model.attentionHeads % model.keyValueHeads == 0 else {
            throw PlannerError.invalidConfigField(
                field: "num_key_value_heads", path: path,
                reason: "(\(model.keyValueHeads)) must divide the attention heads (\(model.attentionHeads))")
        }
    }
}
