import TesseraNN
import TesseraParallel

/// The Hugging Face names, global shapes, shardings and initializations of a model's parameters on one
/// tensor-parallel rank. Pure: the same function serves allocation, checkpoint loading and saving.
extension TransformerConfig {
    /// Hugging Face names of one block's tensors.
    public struct BlockNames: Sendable {
        public let norm1Weight, norm1Bias, qkvWeight, qkvBias, queryWeight, keyWeight, valueWeight: String
        public let outputWeight, outputBias, norm2Weight, norm2Bias, upWeight, upBias, gateWeight, downWeight, downBias: String
    }

    /// Names of the tensors of block `layer`.
    public func blockNames(_ layer: Int) -> BlockNames {
        switch architecture {
        case .gpt2:
            let p = "transformer.h.\(layer)."
            return BlockNames(
                norm1Weight: p + "ln_1.weight", norm1Bias: p + "ln_1.bias",
                qkvWeight: p + "attn.c_attn.weight", qkvBias: p + "attn.c_attn.bias",
                queryWeight: "", keyWeight: "", valueWeight: "",
                outputWeight: p + "attn.c_proj.weight", outputBias: p + "attn.c_proj.bias",
                norm2Weight: p + "ln_2.weight", norm2Bias: p + "ln_2.bias",
                upWeight: p + "mlp.c_fc.weight", upBias: p + "mlp.c_fc.bias", gateWeight: "",
                downWeight: p + "mlp.c_proj.weight", downBias: p + "mlp.c_proj.bias")
        case .llama:
            let p = "model.layers.\(layer)."
            return BlockNames(
                norm1Weight: p + "input_layernorm.weight", norm1Bias: "", qkvWeight: "", qkvBias: "",
                queryWeight: p + "self_attn.q_proj.weight", keyWeight: p + "self_attn.k_proj.weight",
                valueWeight: p + "self_attn.v_proj.weight",
                outputWeight: p + "self_attn.o_proj.weight", outputBias: "",
                norm2Weight: p + "post_attention_layernorm.weight", norm2Bias: "",
                upWeight: p + "mlp.up_proj.weight", upBias: "", gateWeight: p + "mlp.gate_proj.weight",
                downWeight: p + "mlp.down_proj.weight", downBias: "")
        }
    }

    /// Name of the token embedding.
    public var tokenEmbeddingName: String { architecture == .gpt2 ? "transformer.wte.weight" : "model.embed_tokens.weight" }
    /// Name of the learned position embedding (GPT-2 only).
    public var positionEmbeddingName: String { "transformer.wpe.weight" }
    /// Names of the final norm's weight and bias (empty bias for RMSNorm).
    public var finalNormNames: (weight: String, bias: String) {
        architecture == .gpt2 ? ("transformer.ln_f.weight", "transformer.ln_f.bias") : ("model.norm.weight", "")
    }
    /// Name of the LM head's weight: the token embedding when tied.
    public var headName: String { tiedEmbeddings ? tokenEmbeddingName : "lm_head.weight" }

    /// Whether the key/value projections are replicated (tp exceeds the key/value heads).
    public func replicatesKeyValueHeads(tp: Int) -> Bool { tp > 1 && attention.kvHeads % tp != 0 }

    /// The parameters one tensor-parallel rank holds for the layers `layers` (default all), with the token
    /// embedding when `embedding` and the final norm and LM head when `head`.
    public func parameterSpecs(context: LayerContext, layers: Range<Int>? = nil, embedding: Bool = true,
                               head: Bool = true) -> [ParameterSpec] {
        let n = context.tp.size, r = context.tp.rank, h = hiddenSize
        let std = initializerRange
        // GPT-2 scales residual projections by 1/√(2·layers) (Radford et al. 2019; HF GPT2PreTrainedModel).
        let residualStd = architecture == .gpt2 ? std / Float(2 * self.layers).squareRoot() : std
        let firstRank = r == 0
        let partial: GradientReduction = context.sequenceParallel ? .sumOverTensorParallel : .none
        func split(_ d: Int, blocks: Int = 1) -> Sharding { n == 1 ? .replicated : .split(dimension: d, parts: n, index: r, blocks: blocks) }
        func sharded(_ name: String, _ shape: [Int], _ sharding: Sharding, _ initialization: Initialization) -> ParameterSpec {
            ParameterSpec(name: name, globalShape: shape, sharding: sharding, initialization: initialization)
        }
        func replicated(_ name: String, _ shape: [Int], _ initialization: Initialization, reduction: GradientReduction) -> ParameterSpec {
            ParameterSpec(name: name, globalShape: shape, initialization: initialization, gradientReduction: reduction,
                          countsInGlobalNorm: firstRank)
        }
        func vocabulary(_ name: String) -> ParameterSpec {
            let padded = paddedVocabularySize(tp: n)
            let sharding: Sharding = n == 1 ? .replicated
                : .split(dimension: 0, parts: n, index: r, paddedExtent: padded == vocabularySize ? nil : padded)
            return sharded(name, [vocabularySize, h], sharding, .normal(std: std))
        }
        func normSpecs(_ weight: String, _ bias: String) -> [ParameterSpec] {
            var specs = [replicated(weight, [h], .constant(1), reduction: partial)]
            if norm.kind == .layerNorm { specs.append(replicated(bias, [h], .constant(0), reduction: partial)) }
            return specs
        }

        var specs: [ParameterSpec] = []
        if embedding {
            specs.append(vocabulary(tokenEmbeddingName))
            if architecture == .gpt2 {
                specs.append(replicated(positionEmbeddingName, [contextLength, h], .normal(std: std), reduction: partial))
            }
        }
        let q = attention.heads * attention.headDim, kv = attention.kvHeads * attention.headDim, f = mlp.intermediateSize
        for layer in layers ?? 0..<self.layers {
            let names = blockNames(layer)
            specs += normSpecs(names.norm1Weight, names.norm1Bias)
            switch architecture {
            case .gpt2:
                specs.append(sharded(names.qkvWeight, [h, 3 * h], split(1, blocks: 3), .normal(std: std)))
                specs.append(sharded(names.qkvBias, [3 * h], split(0, blocks: 3), .constant(0)))
                specs.append(sharded(names.outputWeight, [h, h], split(0), .normal(std: residualStd)))
                specs.append(replicated(names.outputBias, [h], .constant(0), reduction: partial))
            case .llama:
                specs.append(sharded(names.queryWeight, [q, h], split(0), .normal(std: std)))
                for name in [names.keyWeight, names.valueWeight] {
                    if replicatesKeyValueHeads(tp: n) {
                        specs.append(replicated(name, [kv, h], .normal(std: std), reduction: .sumOverTensorParallel))
                    } else {
                        specs.append(sharded(name, [kv, h], split(0), .normal(std: std)))
                    }
                }
                specs.append(sharded(names.outputWeight, [h, q], split(1), .normal(std: residualStd)))
            }
            specs += normSpecs(names.norm2Weight, names.norm2Bias)
            switch architecture {
            case .gpt2:
                specs.append(sharded(names.upWeight, [h, f], split(1), .normal(std: std)))
                specs.append(sharded(names.upBias, [f], split(0), .constant(0)))
                specs.append(sharded(names.downWeight, [f, h], split(0), .normal(std: residualStd)))
                specs.append(replicated(names.downBias, [h], .constant(0), reduction: partial))
            case .llama:
                specs.append(sharded(names.gateWeight, [f, h], split(0), .normal(std: std)))
                specs.append(sharded(names.upWeight, [f, h], split(0), .normal(std: std)))
                specs.append(sharded(names.downWeight, [h, f], split(1), .normal(std: residualStd)))
            }
        }
        if head {
            let (weight, bias) = finalNormNames
            specs += normSpecs(weight, bias)
            if !tiedEmbeddings {
                specs.append(vocabulary(headName))
            } else if !embedding {
                // A tied head without the embedding (the last pipeline stage) holds its own copy, initialized
                // like the first stage's; a pipeline sums the two gradients over the embedding group, and
                // the global norm counts the first stage's copy only.
                var copy = vocabulary(headName)
                copy.countsInGlobalNorm = false
                specs.append(copy)
            }
        }
        return specs
    }
}
