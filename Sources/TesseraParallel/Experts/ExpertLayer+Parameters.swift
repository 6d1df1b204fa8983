import TesseraNN

/// One projection of a SwiGLU expert; the raw value is its Hugging Face module name (Qwen2-MoE, OLMoE; Mixtral's
/// `w1`/`w3`/`w2` are `gate`/`up`/`down`).
public enum ExpertProjection: String, Sendable, Hashable, CaseIterable {
    case gate = "gate_proj"
    case up = "up_proj"
    case down = "down_proj"
}

extension ExpertLayer {
    /// The global ids of the experts the rank of `context` holds: block `ep.rank` of `totalExperts / ep`.
    /// - Throws: ``ExpertError/expertsNotDivisible(experts:ep:valid:)`` listing the ep that divide `totalExperts`.
    public static func localExperts(totalExperts: Int, context: LayerContext) throws -> Range<Int> {
        let ep = context.ep.size
        guard totalExperts >= 1, totalExperts % ep == 0 else {
            throw ExpertError.expertsNotDivisible(experts: totalExperts, ep: ep, valid: (1...max(1, totalExperts)).filter { totalExperts % $0 == 0 })
        }
        let perRank = totalExperts / ep
        return context.ep.rank * perRank..<(context.ep.rank + 1) * perRank
    }

    /// The specs of this rank's expert weights, expert after expert (gate, up, down each): global shapes
    /// `[intermediate, hidden]`, `[intermediate, hidden]`, `[hidden, intermediate]`; split over tp by intermediate features
    /// for ``ExpertTensorParallelism/split``. Every spec has ``ParameterSpec/isExpert`` set.
    /// - Parameters:
    ///   - name: the parameter name of a global expert's projection (e.g. `model.layers.3.mlp.experts.\(e).\(p.rawValue).weight`).
    /// - Throws: ``ExpertError/expertsNotDivisible(experts:ep:valid:)``; ``ExpertError/intermediateNotDivisible(intermediate:tp:)``.
    public static func parameterSpecs(totalExperts: Int, hidden: Int, intermediate: Int, tensorParallelism: ExpertTensorParallelism,
                                      context: LayerContext, initialization: Initialization,
                                      name: (_ expert: Int, _ projection: ExpertProjection) -> String) throws -> [ParameterSpec] {
        let tp = context.tp.size, split = tensorParallelism == .split && tp > 1
        guard !split || intermediate % tp == 0 else { throw ExpertError.intermediateNotDivisible(intermediate: intermediate, tp: tp) }
        // Whole experts are replicated over tp: counted once in the global norm, and with sequence parallelism each tp
        // rank saw only its shard of the tokens, so the gradient is a partial sum over tp.
        let reduction: GradientReduction = !split && context.sequenceParallel ? .sumOverTensorParallel : .none
        return try localExperts(totalExperts: totalExperts, context: context).flatMap { expert in
            ExpertProjection.allCases.map { projection in
                let shape = projection == .down ? [hidden, intermediate] : [intermediate, hidden]
                let sharding: Sharding = split ? .split(dimension: projection == .down ? 1 : 0, parts: tp, index: context.tp.rank) : .replicated
                return ParameterSpec(name: name(expert, projection), globalShape: shape, sharding: sharding, initialization: initialization,
                                     gradientReduction: reduction, countsInGlobalNorm: split || context.tp.rank == 0, isExpert: true)
            }
        }
    }

    /// This rank's expert weights in `store`, found by the names ``parameterSpecs(totalExperts:hidden:intermediate:tensorParallelism:context:initialization:name:)`` gave them.
    /// - Throws: ``ExpertError/expertsNotDivisible(experts:ep:valid:)``; ``ExpertError/missingWeight(name:)``.
    public static func weights(in store: ParameterStore, totalExperts: Int, context: LayerContext,
                               name: (_ expert: Int, _ projection: ExpertProjection) -> String) throws -> [ExpertWeights] {
        try localExperts(totalExperts: totalExperts, context: context).map { expert in
            func find(_ projection: ExpertProjection) throws -> Parameter {
                let key = name(expert, projection)
                guard let parameter = store[key] else { throw ExpertError.missingWeight(name: key) }
                return parameter
            }
            return ExpertWeights(gate: try find(.gate), up: try find(.up), down: try find(.down))
        }
    }
}
