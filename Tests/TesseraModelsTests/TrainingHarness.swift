import TesseraCollectives
import TesseraModels
import TesseraNN
import TesseraParallel
import TesseraTensor

/// Tiny configurations for fast tests.
enum TinyConfigs {
    /// 12 heads so that tp ∈ {1, 2, 3, 4, 6, 12}; vocabulary 61 never divides tp (padding).
    static let gpt2 = TransformerConfig.gpt2(vocabularySize: 61, contextLength: 16, hiddenSize: 48, layers: 2, heads: 12,
                                             intermediateSize: 96)
    /// Grouped-query attention: 4 query heads, 2 key/value heads (tp = 4 replicates them), untied head.
    static let llama = TransformerConfig.llama(vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4,
                                               kvHeads: 2, intermediateSize: 64, tiedEmbeddings: false)
    /// The Llama layout plus query/key/value biases (tp = 4 replicates the key/value heads and their biases), tied head.
    static let qwen2 = TransformerConfig(family: .qwen2, vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4,
                                         kvHeads: 2, intermediateSize: 64, tiedEmbeddings: true)
    /// Mixtral: 4 experts, top-2 (dropless, so decoding one token at a time routes as the whole prefix does).
    static let mixtral: TransformerConfig = {
        var config = TransformerConfig(family: .mixtral, vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4,
                                       kvHeads: 2, intermediateSize: 48, tiedEmbeddings: false)
        config.moe = .init(router: RouterConfiguration(experts: 4, topK: 2, normalizesTopK: true), expertIntermediateSize: 48)
        return config
    }()
    /// Qwen2-MoE: 4 experts, top-2 without renormalization, a shared expert split over tp.
    static let qwen2MoE: TransformerConfig = {
        var config = TransformerConfig(family: .qwen2MoE, vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4,
                                       kvHeads: 2, intermediateSize: 64, tiedEmbeddings: true)
        config.moe = .init(router: RouterConfiguration(experts: 4, topK: 2, normalizesTopK: false), expertIntermediateSize: 24,
                           sharedExpertIntermediateSize: 40)
        return config
    }()
    /// OLMoE: query/key norms over every head (tp = 1), 4 experts, top-2 without renormalization.
    static let olmoe: TransformerConfig = {
        var config = TransformerConfig(family: .olmoe, vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4,
                                       kvHeads: 2, intermediateSize: 24, tiedEmbeddings: false)
        config.moe = .init(router: RouterConfiguration(experts: 4, topK: 2, normalizesTopK: false), expertIntermediateSize: 24)
        return config
    }()
}

/// The result of a short training run, gathered to full tensors.
struct TrainingRun: Sendable {
    var losses: [Double]
    var norms: [Float]
    var parameters: [String: [Float]]
    /// The reduced gradients of the first step (before any update, so every layout starts from the same weights).
    var gradients: [String: [Float]] = [:]
}

enum Harness {
    /// Deterministic micro-batches: step `s`, micro-batch `m`, `batch × length` ids and next-token targets.
    static func microBatches(step: Int, count: Int, batch: Int, length: Int, vocabulary: Int) -> [MicroBatch] {
        let random = DeterministicRandom(seed: 5, stream: "batches")
        return (0..<count).map { m in
            let base = (step * count + m) * batch * (length + 1)
            let ids = (0..<batch * (length + 1)).map { Int32(random.bits(at: UInt64(base + $0)) % UInt64(vocabulary)) }
            var tokens: [Int32] = [], targets: [Int32] = []
            for b in 0..<batch {
                let row = ids[b * (length + 1)..<(b + 1) * (length + 1)]
                tokens += row.dropLast()
                targets += row.dropFirst()
            }
            return try! MicroBatch(tokens: tokens, targets: targets, batch: batch, length: length)
        }
    }

    /// Trains `steps` AdamW steps with clipping on `tp` thread ranks and gathers the parameters.
    /// - Parameter bucketElements: the gradient buckets' size (small: several buckets, each summing its tp-partial
    ///   gradients apart).
    static func train(_ config: TransformerConfig, tp: Int, sequenceParallel: Bool = false,
                      mappings: MappingTable = .megatron, steps: Int = 5, bucketElements: Int = 1 << 20) throws -> TrainingRun {
        let runs = try ThreadGroup.run(ranks: tp, deadline: .seconds(60)) { world in
            let groups = try ProcessGroups(world: world, mesh: DeviceMesh(tp: tp))
            let parallel = try ParallelConfig(tp: tp, sequenceParallel: sequenceParallel, memory: .init(bucketElements: bucketElements))
            let engine = try MeshEngine(config: config, parallel: parallel, groups: groups, seed: 11,
                                        optimizer: AdamWConfiguration(beta1: 0.9, beta2: 0.95, weightDecay: 0.1), mappings: mappings)
            var run = TrainingRun(losses: [], norms: [], parameters: [:])
            for step in 0..<steps {
                let batches = microBatches(step: step, count: 2, batch: 2, length: 6, vocabulary: config.vocabularySize)
                let report = try engine.trainStep(batches, learningRate: 1e-2, maxGradientNorm: 1.0)
                run.losses.append(report.loss)
                run.norms.append(report.gradientNorm)
                if step == 0 { for (name, tensor) in try engine.model.fullGradients() { run.gradients[name] = tensor.scalars } }
            }
            for (name, tensor) in try engine.model.fullParameters() { run.parameters[name] = tensor.scalars }
            return run
        }
        return runs[0]
    }

    /// Largest |a − b| over every parameter (∞ when the names differ).
    static func maxParameterDifference(_ a: TrainingRun, _ b: TrainingRun) -> Float {
        maxDifference(a.parameters, b.parameters)
    }

    /// Largest |a − b| over every first-step gradient, relative to the largest |b| (∞ when the names differ).
    static func maxGradientDifference(_ a: TrainingRun, _ b: TrainingRun) -> Float {
        let scale = b.gradients.values.reduce(0) { max($0, $1.map(abs).max() ?? 0) }
        return maxDifference(a.gradients, b.gradients) / max(scale, .leastNormalMagnitude)
    }

    private static func maxDifference(_ a: [String: [Float]], _ b: [String: [Float]]) -> Float {
        guard Set(a.keys) == Set(b.keys) else { return .infinity }
        return a.reduce(0) { worst, entry in
            zip(entry.value, b[entry.key]!).reduce(worst) { max($0, abs($1.0 - $1.1)) }
        }
    }

    static func maxRelativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / max(1e-12, abs($1.1))) }
    }
}
