import TesseraNN
import TesseraParallel

/// The Hugging Face names, global shapes, shardings and initializations of a model's parameters on one
/// tensor-parallel rank. Pure: the same function serves allocation, checkpoint loading and saving.
extension TransformerConfig {
    /// The name of the parameter `role` (Tessera's parameters carry their Hugging Face names).
    public func name(of role: ParameterRole) -> String { family.huggingFace.name(of: role) }

    /// Name of the token embedding.
    public var tokenEmbeddingName: String { name(of: .tokenEmbedding) }
    /// Name of the LM head's weight: the token embedding when tied.
    public var headName: String { tiedEmbeddings ? tokenEmbeddingName : name(of: .head) }

    /// The parameters one tensor-parallel rank holds for the layers `layers` (default all), with the token
    /// embedding when `embedding` and the final norm and LM head when `head`.
    public func parameterSpecs(context: LayerContext, layers: Range<Int>? = nil, embedding: Bool = true,
                               head: Bool = true) -> [ParameterSpec] {
        let shapes = ParameterShapes(config: self, context: context)
        var specs: [ParameterSpec] = []
        if embedding {
            specs.append(shapes.vocabulary(tokenEmbeddingName))
            if family.positions == .learned { specs.append(shapes.spec(.positionEmbedding, name: name(of: .positionEmbedding))) }
        }
        for layer in layers ?? 0..<self.layers {
            specs += family.blockRoles(layer).map { shapes.spec($0, name: name(of: $0)) } + shapes.experts(layer: layer)
        }
        if head {
            specs += family.finalNormRoles.map { shapes.spec($0, name: name(of: $0)) }
            if !tiedEmbeddings {
                specs.append(shapes.vocabulary(headName))
            } else if !embedding {
                // A tied head without the embedding (the last pipeline stage) holds its own copy, initialized
                // like the first stage's; a pipeline sums the two gradients over the embedding group, and
                // the global norm counts the first stage's copy only.
                var copy = shapes.vocabulary(headName)
                copy.countsInGlobalNorm = false
                specs.append(copy)
            }
        }
        return specs
    }
}

/// The global shape, tensor-parallel sharding and initialization of each parameter role on one rank.
private struct ParameterShapes {
    let config: TransformerConfig
    let context: LayerContext

    private var hidden: Int { config.hiddenSize }
    private var std: Float { config.initializerRange }
    /// Sequence parallelism leaves the gradients of replicated parameters partial per rank.
    private var partial: GradientReduction { context.sequenceParallel ? .sumOverTensorParallel : .none }

    /// A `[vocabulary, hidden]` table split by rows (balanced shares, ``TransformerConfig/vocabularyShare(tp:rank:)``).
    func vocabulary(_ name: String) -> ParameterSpec {
        ParameterSpec(name: name, globalShape: [config.vocabularySize, hidden], sharding: split(0), initialization: .normal(std: std))
    }

    func spec(_ role: ParameterRole, name: String) -> ParameterSpec {
        switch role {
        case .tokenEmbedding, .head: return vocabulary(name)
        case .positionEmbedding: return replicated(name, [config.contextLength, hidden], .normal(std: std), reduction: partial)
        case let .finalNorm(component): return norm(name, component)
        case let .block(_, module, component): return block(module, component, name: name)
        case .expert: preconditionFailure("routed experts come from experts(layer:)")
        }
    }

    /// The routed experts of block `layer` this rank holds (its expert-parallel share, whole or split over tp), as
    /// ``ExpertLayer`` lays them out; none for a dense model. The layout's ep must divide the experts
    /// (``Transformer/init(config:context:seed:chunkLayers:)`` checks it first).
    func experts(layer: Int) -> [ParameterSpec] {
        guard let moe = config.moe else { return [] }
        do {
            return try ExpertLayer.parameterSpecs(totalExperts: moe.router.experts, hidden: hidden, intermediate: moe.expertIntermediateSize,
                                                  tensorParallelism: context.expertTensorParallelism, context: context, initialization: .normal(std: std)) {
                config.name(of: .expert(layer: layer, expert: $0, $1))
            }
        } catch {
            preconditionFailure("experts of a validated model do not split: \(error)")
        }
    }

    private func norm(_ name: String, _ component: ParameterComponent) -> ParameterSpec {
        replicated(name, [hidden], .constant(component == .weight ? 1 : 0), reduction: partial)
    }

    private func block(_ module: BlockModule, _ component: ParameterComponent, name: String) -> ParameterSpec {
        let family = config.family, attention = config.attention
        let d = attention.headDim, q = attention.heads * d, kv = attention.kvHeads * d, f = config.mlp.intermediateSize
        let shared = config.moe?.sharedExpertIntermediateSize ?? 0
        // GPT-2 scales residual projections by 1/√(2·layers) (Radford et al. 2019; HF GPT2PreTrainedModel).
        let residualStd = family.scalesResidualInitialization ? std / Float(2 * config.layers).squareRoot() : std
        switch module {
        case .attentionNorm, .mlpNorm: return norm(name, component)
        // Split like the query and key columns they scale (whole heads; key heads never replicated with these norms).
        case .queryNorm, .keyNorm:
            return ParameterSpec(name: name, globalShape: [module == .queryNorm ? q : kv], sharding: split(0, granule: d),
                                 initialization: .constant(1))
        case .queryKeyValue: return columnParallel(name, component, outputs: q + 2 * kv, inputs: hidden, blocks: 3, granule: d)
        case .query: return columnParallel(name, component, outputs: q, inputs: hidden, granule: d)
        case .key, .value:
            guard config.replicatesKeyValueHeads(tp: context.tp.size) else {
                return columnParallel(name, component, outputs: kv, inputs: hidden, granule: d)
            }
            let shape = component == .weight ? matrix(outputs: kv, inputs: hidden) : [kv]
            return replicated(name, shape, component == .weight ? .normal(std: std) : .constant(0), reduction: .sumOverTensorParallel)
        case .gate, .up: return columnParallel(name, component, outputs: f, inputs: hidden)
        case .attentionOutput: return rowParallel(name, component, inputs: q, granule: d, std: residualStd)
        case .down: return rowParallel(name, component, inputs: f, std: residualStd)
        case .router: return replicated(name, matrix(outputs: config.moe?.router.experts ?? 0, inputs: hidden), .normal(std: std), reduction: partial)
        case .sharedExpertGate: return replicated(name, matrix(outputs: 1, inputs: hidden), .normal(std: std), reduction: partial)
        case .sharedGate, .sharedUp: return columnParallel(name, component, outputs: shared, inputs: hidden)
        case .sharedDown: return rowParallel(name, component, inputs: shared, std: residualStd)
        }
    }

    /// A weight's global shape in the family's layout.
    private func matrix(outputs: Int, inputs: Int) -> [Int] {
        config.family.weightLayout == .outputMajor ? [outputs, inputs] : [inputs, outputs]
    }

    /// A balanced split over tp of `granule`-sized units (whole heads, or single features and rows).
    private func split(_ dimension: Int, blocks: Int = 1, granule: Int = 1) -> Sharding {
        context.tp.size == 1 ? .replicated
            : .split(dimension: dimension, parts: context.tp.size, index: context.tp.rank, blocks: blocks, granule: granule)
    }

    /// Output features split over tp (in `blocks` equal blocks, each split, for a fused projection); the bias with them.
    private func columnParallel(_ name: String, _ component: ParameterComponent, outputs: Int, inputs: Int, blocks: Int = 1,
                                granule: Int = 1) -> ParameterSpec {
        guard component == .weight else {
            return ParameterSpec(name: name, globalShape: [outputs], sharding: split(0, blocks: blocks, granule: granule),
                                 initialization: .constant(0))
        }
        let dimension = config.family.weightLayout == .outputMajor ? 0 : 1
        return ParameterSpec(name: name, globalShape: matrix(outputs: outputs, inputs: inputs),
                             sharding: split(dimension, blocks: blocks, granule: granule), initialization: .normal(std: std))
    }

    /// Input features split over tp; the bias, added after the reduction, replicated.
    private func rowParallel(_ name: String, _ component: ParameterComponent, inputs: Int, granule: Int = 1, std: Float) -> ParameterSpec {
        guard component == .weight else { return replicated(name, [hidden], .constant(0), reduction: partial) }
        let dimension = config.family.weightLayout == .outputMajor ? 1 : 0
        return ParameterSpec(name: name, globalShape: matrix(outputs: hidden, inputs: inputs), sharding: split(dimension, granule: granule),
                             initialization: .normal(std: std))
    }

    /// A parameter every rank holds whole; the first rank's copy counts in the global norm.
    private func replicated(_ name: String, _ shape: [Int], _ initialization: Initialization, reduction: GradientReduction) -> ParameterSpec {
        ParameterSpec(name: name, globalShape: shape, initialization: initialization, gradientReduction: reduction,
                      countsInGlobalNorm: context.tp.rank == 0)
    }
}
