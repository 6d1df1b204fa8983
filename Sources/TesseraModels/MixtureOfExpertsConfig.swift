import TesseraParallel

extension TransformerConfig {
    /// The sizes and routing of a mixture-of-experts family's feed-forward blocks (every block is sparse).
    public struct MixtureOfExperts: Sendable, Hashable, Codable {
        public var router: RouterConfiguration
        /// Intermediate features of one routed expert (Mixtral's and OLMoE's `intermediate_size`, Qwen2-MoE's
        /// `moe_intermediate_size`).
        public var expertIntermediateSize: Int
        /// Intermediate features of the shared expert (`shared_expert_intermediate_size`), for families that have one.
        public var sharedExpertIntermediateSize: Int?
        /// Execution, not the model: whether the shared expert runs while the routed experts' last all-to-all is in
        /// flight (``MixtureOfExpertsLayer/overlapsSharedExpert``, as Megatron-Core's `--moe-shared-expert-overlap`);
        /// the same results either way. No `config.json` key.
        public var overlapsSharedExpert = true

        public init(router: RouterConfiguration, expertIntermediateSize: Int, sharedExpertIntermediateSize: Int? = nil) {
            self.router = router
            self.expertIntermediateSize = expertIntermediateSize
            self.sharedExpertIntermediateSize = sharedExpertIntermediateSize
        }
    }

    /// The parameters of block `layer` in model order: the family's modules, then each routed expert's gate, up
    /// and down projections (expert by expert).
    public func blockRoles(_ layer: Int) -> [ParameterRole] {
        let experts = moe?.router.experts ?? 0
        return family.blockRoles(layer) + (0..<experts).flatMap { expert in
            ExpertProjection.allCases.map { ParameterRole.expert(layer: layer, expert: expert, $0) }
        }
    }

    /// Checks the mixture of experts against the family: present exactly when the family routes, a shared expert
    /// exactly when the family has one, and routing options that make sense.
    /// - Throws: ``ModelError/invalidConfiguration(field:reason:)`` naming the `config.json` key and the fix.
    func validateMixtureOfExperts() throws {
        let name = family.name
        guard family.feedForward.isMixtureOfExperts else {
            guard moe == nil else {
                throw ModelError.invalidConfiguration(field: "architecture", reason: "\(name) has a dense MLP, not a mixture of experts; use a mixture-of-experts family (mixtral, qwen2_moe, olmoe)")
            }
            return
        }
        guard let moe else {
            throw ModelError.invalidConfiguration(field: "num_experts", reason: "\(name) is a mixture of experts: give its experts, top-k and expert size")
        }
        let router = moe.router
        func invalid(_ field: String, _ reason: String) -> ModelError { ModelError.invalidConfiguration(field: field, reason: reason) }
        guard router.experts >= 1 else { throw invalid("num_experts", "\(router.experts) must be at least 1") }
        guard (1...router.experts).contains(router.topK) else {
            throw invalid("num_experts_per_tok", "top-k \(router.topK) must lie in 1...\(router.experts) (the number of experts)")
        }
        guard moe.expertIntermediateSize >= 1 else { throw invalid("moe_intermediate_size", "\(moe.expertIntermediateSize) must be at least 1") }
        if let factor = router.capacityFactor, !(factor > 0 && factor.isFinite) {
            throw invalid("capacity_factor", "\(factor) must be a positive number (or absent for dropless routing)")
        }
        guard !router.forcesLoadBalance || router.capacityFactor == nil else {
            throw invalid("capacity_factor", "forced load balance already gives every expert the same share, so a capacity would only cut it; leave capacity_factor out (dropless) or turn forced balance off")
        }
        guard router.auxiliaryLossCoefficient >= 0, router.zLossCoefficient >= 0 else {
            throw invalid("router_aux_loss_coef / router_z_loss_coef", "\(router.auxiliaryLossCoefficient) and \(router.zLossCoefficient) must not be negative")
        }
        let shared = moe.sharedExpertIntermediateSize
        guard (shared != nil) == family.feedForward.hasSharedExpert, (shared ?? 1) >= 1 else {
            throw invalid("shared_expert_intermediate_size",
                          family.feedForward.hasSharedExpert ? "\(name) has a shared expert: give its positive size" : "\(name) has no shared expert; leave it out")
        }
    }
}
