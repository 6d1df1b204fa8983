/// How a mixture-of-experts router turns its logits into per-token expert choices, and the auxiliary losses
/// that keep the choices balanced. The fields map one-to-one onto Hugging Face `config.json` keys (named per
/// field); ``TransformerConfig`` validates them.
public struct RouterConfiguration: Sendable, Hashable, Codable {
    /// How router logits become scores.
    public enum Scoring: String, Sendable, Hashable, Codable, CaseIterable {
        /// `softmax(logits)` over the experts (Mixtral, Qwen2-MoE, OLMoE).
        case softmax
        /// `sigmoid(logits)` per expert (DeepSeek-V3's `scoring_func: sigmoid`).
        case sigmoid
    }

    /// Routed experts per block (`num_local_experts`, `num_experts`).
    public var experts: Int
    /// Experts each token goes to (`num_experts_per_tok`).
    public var topK: Int
    public var scoring: Scoring
    /// Whether the chosen k scores are divided by their sum (`norm_topk_prob`; always for Mixtral).
    public var normalizesTopK: Bool
    /// Expert capacity as a multiple of the even share, `⌈factor · k · length / experts⌉` assignments per
    /// expert and sequence; `nil` is dropless. Assignments beyond it are dropped, lowest score first.
    public var capacityFactor: Float?
    /// Whether the objective includes the load-balancing loss (`output_router_logits`).
    public var includesAuxiliaryLoss: Bool
    /// Weight of the load-balancing loss in the objective (`router_aux_loss_coef`).
    public var auxiliaryLossCoefficient: Float
    /// Weight of the router z-loss (`router_z_loss_coef`, Zoph et al. 2022, "ST-MoE", eq. 5); 0 leaves it out.
    public var zLossCoefficient: Float
    /// Benchmarking only, off by default: every token goes to experts chosen round-robin by its position in its
    /// sequence instead of its top-k scores (``RoutingMath/forcedExperts(position:k:experts:into:)``), so every expert
    /// gets the same tokens and a benchmark measures expert parallelism without the router's imbalance ("steady state"
    /// training). The combine weights are still the chosen experts' scores, so the model trains; it is a different
    /// model, not a faster one. No `config.json` key; refused with a capacity and in decoding.
    public var forcesLoadBalance: Bool

    public init(experts: Int, topK: Int, scoring: Scoring = .softmax, normalizesTopK: Bool, capacityFactor: Float? = nil,
                includesAuxiliaryLoss: Bool = false, auxiliaryLossCoefficient: Float = 0.001, zLossCoefficient: Float = 0,
                forcesLoadBalance: Bool = false) {
        self.experts = experts
        self.topK = topK
        self.scoring = scoring
        self.normalizesTopK = normalizesTopK
        self.capacityFactor = capacityFactor
        self.includesAuxiliaryLoss = includesAuxiliaryLoss
        self.auxiliaryLossCoefficient = auxiliaryLossCoefficient
        self.zLossCoefficient = zLossCoefficient
        self.forcesLoadBalance = forcesLoadBalance
    }

    /// The weight of the load-balancing loss in the objective: its coefficient when included, else 0.
    public var auxiliaryWeight: Float { includesAuxiliaryLoss ? auxiliaryLossCoefficient : 0 }

    /// Assignments one expert takes from a sequence of `length` tokens (`Int.max` when dropless).
    public func capacity(length: Int) -> Int {
        guard let capacityFactor else { return .max }
        return Int((Double(capacityFactor) * Double(topK * length) / Double(experts)).rounded(.up))
    }
}
