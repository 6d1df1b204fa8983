import TesseraFormats
import TesseraParallel

/// The mixture-of-experts keys of Hugging Face `config.json` (``HuggingFaceNaming/ExpertKeys``), read and written
/// by one table each way so that a written file reads back to the same configuration.
extension TransformerConfig.MixtureOfExperts {
    /// The keys transformers reads for this family's experts and router.
    func huggingFaceMembers(_ keys: HuggingFaceNaming.ExpertKeys) -> [(String, JSONValue)] {
        func int(_ value: Int) -> JSONValue { .integer(Int64(value)) }
        func number(_ value: Float) -> JSONValue { .number(Double(value)) }
        var members: [(String, JSONValue)] = [("num_experts_per_tok", int(router.topK))]
        switch keys {
        case .mixtral:
            members += [("num_local_experts", int(router.experts)), ("router_jitter_noise", number(0))]
        case .qwen2MoE:
            members += [("num_experts", int(router.experts)), ("moe_intermediate_size", int(expertIntermediateSize)),
                        ("norm_topk_prob", .bool(router.normalizesTopK)), ("decoder_sparse_step", int(1)), ("mlp_only_layers", .array([])),
                        ("qkv_bias", .bool(true))]
            if let shared = sharedExpertIntermediateSize { members.append(("shared_expert_intermediate_size", int(shared))) }
        case .olmoe:
            members += [("num_experts", int(router.experts)), ("norm_topk_prob", .bool(router.normalizesTopK)), ("clip_qkv", .null)]
        }
        members += [("output_router_logits", .bool(router.includesAuxiliaryLoss)),
                    ("router_aux_loss_coef", number(router.auxiliaryLossCoefficient))]
        if router.zLossCoefficient != 0 { members.append(("router_z_loss_coef", number(router.zLossCoefficient))) }
        if router.scoring != .softmax { members.append(("scoring_func", .string(router.scoring.rawValue))) }
        if let factor = router.capacityFactor { members.append(("capacity_factor", number(factor))) }
        return members
    }
}

extension HuggingFaceConfigReader {
    /// The experts and router under `keys`; `config` holds the Llama keys already read (Mixtral's expert size is
    /// its `intermediate_size`).
    /// - Throws: ``ModelError/invalidFile(path:reason:)`` for mistyped keys, an unknown `scoring_func`, router
    ///   jitter, dense layers between sparse ones, a Qwen2-MoE without query/key/value biases or OLMoE's `clip_qkv`.
    func mixtureOfExperts(_ keys: HuggingFaceNaming.ExpertKeys, config: TransformerConfig) throws -> TransformerConfig.MixtureOfExperts {
        let scoringName = json["scoring_func"]?.string ?? "softmax"
        guard let scoring = RouterConfiguration.Scoring(rawValue: scoringName) else {
            let known = RouterConfiguration.Scoring.allCases.map(\.rawValue).joined(separator: ", ")
            throw ModelError.invalidFile(path: path, reason: "scoring_func \"\(scoringName)\" is unknown; use one of \(known)")
        }
        let capacity: Float? = json["capacity_factor"].map({ !$0.isNull }) ?? false ? try float("capacity_factor", default: 0) : nil
        var router = RouterConfiguration(
            experts: 0, topK: try int("num_experts_per_tok", default: 2), scoring: scoring, normalizesTopK: true, capacityFactor: capacity,
            includesAuxiliaryLoss: try bool("output_router_logits", default: false),
            auxiliaryLossCoefficient: try float("router_aux_loss_coef", default: 0.001), zLossCoefficient: try float("router_z_loss_coef", default: 0))
        switch keys {
        case .mixtral:
            if try float("router_jitter_noise", default: 0) != 0 { throw unsupported("router_jitter_noise other than 0") }
            router.experts = try int("num_local_experts", default: 8)
            return .init(router: router, expertIntermediateSize: config.mlp.intermediateSize)
        case .qwen2MoE:
            guard try int("decoder_sparse_step", default: 1) == 1, json["mlp_only_layers"]?.array?.isEmpty ?? true else {
                throw unsupported("dense layers between sparse ones (decoder_sparse_step > 1 or mlp_only_layers)")
            }
            guard try bool("qkv_bias", default: true) else { throw unsupported("\"qkv_bias\": false") }
            router.experts = try int("num_experts", default: 60)
            router.normalizesTopK = try bool("norm_topk_prob", default: false)
            return .init(router: router, expertIntermediateSize: try int("moe_intermediate_size", default: 1408),
                         sharedExpertIntermediateSize: try int("shared_expert_intermediate_size", default: 5632))
        case .olmoe:
            if let clip = json["clip_qkv"], !clip.isNull { throw unsupported("clip_qkv (clamped query/key/value projections)") }
            router.experts = try int("num_experts", default: 64)
            router.normalizesTopK = try bool("norm_topk_prob", default: false)
            return .init(router: router, expertIntermediateSize: config.mlp.intermediateSize)
        }
    }
}
