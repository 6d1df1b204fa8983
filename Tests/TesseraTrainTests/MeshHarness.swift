import TesseraCollectives
import TesseraModels
import TesseraNN
import TesseraParallel
import TesseraTensor

/// Tiny models for the mesh equivalence tests: 8 layers (pp up to 8, or pp = 4 with 2 virtual stages), 8
/// heads (tp ∈ {1, 2, 4, 8}), a vocabulary of 61 that never divides tp (padding).
enum MeshModels {
    /// GPT-2: learned positions, LayerNorm, GELU, biases, tied embeddings.
    static let gpt2 = TransformerConfig.gpt2(vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 8, heads: 8,
                                             intermediateSize: 64)
    /// Llama with grouped-query attention (2 key/value heads: tp = 4, 8 replicate them) and tied embeddings.
    static let llama = TransformerConfig.llama(vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 8, heads: 8,
                                               kvHeads: 2, intermediateSize: 64, tiedEmbeddings: true)
    /// The same Llama with an untied head: a pipeline then adds no reduction at all.
    static let untiedLlama = TransformerConfig.llama(vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 8, heads: 8,
                                                     kvHeads: 2, intermediateSize: 64, tiedEmbeddings: false)
}

/// What a short training run produced, gathered to full tensors.
struct MeshRun: Sendable {
    var losses: [Double] = []
    var norms: [Float] = []
    /// Every parameter once (the first stage's copy of a tied embedding).
    var parameters: [String: [Float]] = [:]
    /// The last stage's copy of a tied embedding (pp > 1), which must equal the first stage's.
    var tiedCopy: (name: String, values: [Float])?

    /// Whether the last stage's copy of a tied embedding equals the first stage's (true without one).
    var tiedCopiesAgree: Bool { tiedCopy.map { parameters[$0.name] == $0.values } ?? true }
    /// Per rank: the most (micro-batch, chunk) states in flight and the bytes they held.
    var peakInFlight: [Int] = []
    var peakActivationBytes: [Int] = []
    /// Per rank: ``MeshEngine/memory`` after the last step.
    var memory: [MemoryReport] = []
    /// Per rank: the memory ``MeshEngine/memory(forMicroBatchOf:length:microBatches:)`` predicted before the first step.
    var predictedMemory: [MemoryReport] = []
}

enum MeshHarness {
    static let sequenceLength = 8
    static let learningRate: Float = 1e-2
    static let optimizer = AdamWConfiguration(beta1: 0.9, beta2: 0.95, weightDecay: 0.1)

    /// Sequence `sequence` of step `step`: `length + 1` deterministic ids (inputs, then the next-token targets).
    static func sequence(step: Int, sequence: Int, length: Int, vocabulary: Int) -> [Int32] {
        let random = DeterministicRandom(seed: 7, stream: "mesh batches")
        let base = (step * 1000 + sequence) * (length + 1)
        return (0..<length + 1).map { Int32(random.bits(at: UInt64(base + $0)) % UInt64(vocabulary)) }
    }

    /// The micro-batches data-parallel rank `dataRank` runs in `step`, as the trainer's batch layout splits a
    /// global batch: rank r takes sequences `r·G/D ..< (r+1)·G/D`, micro-batch m the next `b` of them.
    static func microBatches(step: Int, globalBatch: Int, parallel: ParallelConfig, dataRank: Int,
                             vocabulary: Int) -> [MicroBatch] {
        let perRank = globalBatch / parallel.dp, b = parallel.microBatchSize, t = sequenceLength
        return (0..<perRank / b).map { m in
            var tokens: [Int32] = [], targets: [Int32] = []
            for s in 0..<b {
                let ids = sequence(step: step, sequence: dataRank * perRank + m * b + s, length: t, vocabulary: vocabulary)
                tokens += ids.dropLast()
                targets += ids.dropFirst()
            }
            return try! MicroBatch(tokens: tokens, targets: targets, batch: b, length: t)
        }
    }

    /// Trains `steps` AdamW steps on `parallel.ranks` thread ranks and gathers the result.
    /// - Parameter pool: each rank's compute threads (one pool shared by the ranks; tests use one rank).
    static func train(_ config: TransformerConfig, _ parallel: ParallelConfig, globalBatch: Int, steps: Int = 5,
                      clip: Float? = 1.0, mappings: MappingTable = .megatron,
                      synchronization: GradientSynchronization = .all, pool: ComputePool = .serial,
                      learningRate: Float = MeshHarness.learningRate, contextFaults: ContextParallelFaults = []) throws -> MeshRun {
        struct RankResult: Sendable {
            var coordinate: MeshCoordinate
            var run: MeshRun
            var stageParameters: [(String, [Float])]
        }
        let results = try ThreadGroup.run(ranks: parallel.ranks, deadline: .seconds(60)) { world -> RankResult in
            let groups = parallel.ranks == 1 ? nil : try ProcessGroups(world: world, mesh: parallel.deviceMesh())
            let engine = try MeshEngine(config: config, parallel: parallel, groups: groups, seed: 11, optimizer: optimizer,
                                        mappings: mappings, synchronization: synchronization, backend: CPUBackend(pool: pool),
                                        contextFaults: contextFaults)
            let coordinate = groups?.coordinate ?? MeshCoordinate()
            var run = MeshRun()
            run.predictedMemory = [try engine.memory(forMicroBatchOf: parallel.microBatchSize, length: sequenceLength,
                                                     microBatches: parallel.microBatches(globalBatchSize: globalBatch))]
            for step in 0..<steps {
                let batches = microBatches(step: step, globalBatch: globalBatch, parallel: parallel, dataRank: coordinate.dp,
                                           vocabulary: config.vocabularySize)
                let report = try engine.trainStep(batches, learningRate: learningRate, maxGradientNorm: clip,
                                                  globalTokens: globalBatch * sequenceLength)
                run.losses.append(report.loss)
                run.norms.append(report.gradientNorm)
                run.peakInFlight = [report.pipeline.peakInFlight]
                run.peakActivationBytes = [report.pipeline.peakActivationBytes]
            }
            run.memory = [engine.memory]
            let parameters = try engine.model.fullParameters().map { ($0.name, $0.tensor.scalars) }
            return RankResult(coordinate: coordinate, run: run, stageParameters: parameters)
        }
        var merged = results[0].run
        merged.peakInFlight = results.flatMap(\.run.peakInFlight)
        merged.peakActivationBytes = results.flatMap(\.run.peakActivationBytes)
        merged.memory = results.flatMap(\.run.memory)
        merged.predictedMemory = results.flatMap(\.run.predictedMemory)
        for result in results.sorted(by: { $0.coordinate.pp < $1.coordinate.pp }) where result.coordinate.dp == 0 && result.coordinate.tp == 0
            && result.coordinate.cp == 0 {
            for (name, values) in result.stageParameters {
                if merged.parameters[name] == nil { merged.parameters[name] = values } else { merged.tiedCopy = (name, values) }
            }
        }
        return merged
    }

    /// Largest |a − b| over every parameter (∞ when the names differ).
    static func maxParameterDifference(_ a: MeshRun, _ b: MeshRun) -> Float {
        guard Set(a.parameters.keys) == Set(b.parameters.keys) else { return .infinity }
        return a.parameters.reduce(0) { worst, entry in
            zip(entry.value, b.parameters[entry.key]!).reduce(worst) { max($0, abs($1.0 - $1.1)) }
        }
    }

    static func maxRelativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / max(1e-12, abs($1.1))) }
    }
}
