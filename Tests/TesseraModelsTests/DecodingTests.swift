import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraPipeline

/// Incremental decoding over key/value blocks gives the logits of recomputing the whole prefix, and the
/// logits gathered over tp equal the single-device ones.
@Suite(.serialized) struct DecodingTests {
    /// Four layers, so two stages can hold two model chunks each (the interleaved layout).
    static let deepGPT2 = TransformerConfig.gpt2(vocabularySize: 61, contextLength: 16, hiddenSize: 48, layers: 4, heads: 12,
                                                 intermediateSize: 96)

    @Test(arguments: [(TinyConfigs.gpt2, 1), (TinyConfigs.llama, 1), (TinyConfigs.llama, 4), (TinyConfigs.gpt2, 3), (TinyConfigs.mixtral, 1),
                      (TinyConfigs.qwen2MoE, 2), (TinyConfigs.olmoe, 2)])
    func cachedDecodingMatchesRecomputation(config: TransformerConfig, tp: Int) throws {
        let prompt: [Int32] = [3, 14, 15, 9, 26]
        let reference = try MeshEngine(config: config, seed: 4).nextTokenLogits(prompt)
        let gathered = try ThreadGroup.run(ranks: tp, deadline: .seconds(30)) { world in
            try MeshEngine(config: config, groups: ProcessGroups(world: world, mesh: DeviceMesh(tp: tp)), seed: 4).nextTokenLogits(prompt)
        }
        #expect(gathered.allSatisfy { $0.count == config.vocabularySize && zip($0, reference).allSatisfy { abs($0 - $1) < 1e-5 } })
        let worst = try ThreadGroup.run(ranks: tp, deadline: .seconds(30)) { world -> Float in
            let engine = try MeshEngine(config: config, groups: ProcessGroups(world: world, mesh: DeviceMesh(tp: tp)), seed: 4)
            let decoder = try SequenceDecoder(engine)
            var sequence = prompt
            var worst: Float = 0
            var logits = try decoder.decode(sequence)
            for step in 0..<6 {
                let full = try engine.nextTokenLogits(sequence)
                worst = max(worst, zip(logits, full).map { abs($0 - $1) }.max()!)
                let next = Int32((step * 7 + 5) % config.vocabularySize)
                sequence.append(next)
                logits = try decoder.decode([next])
            }
            #expect(throws: ModelError.self) { try decoder.decode(Array(repeating: 1, count: 10)) }
            return worst
        }
        #expect(worst.allSatisfy { $0 < 1e-5 })
    }

    /// Evaluation and decoding run through the pipeline (each stage passes hidden states on): pp = 2, tp × pp and
    /// the interleaved layout give the single-device logits, losses and greedy tokens on every rank. The hidden
    /// states really travel: zeroing the first stage's weights changes the logits every stage returns.
    @Test(arguments: [(TinyConfigs.gpt2, 1, 2, 1), (TinyConfigs.llama, 2, 2, 1), (deepGPT2, 1, 2, 2)])
    func pipelineInferenceMatchesOneDevice(config: TransformerConfig, tp: Int, pp: Int, virtualStages: Int) throws {
        let prompt: [Int32] = [3, 14, 15, 9, 26]
        let batch = Harness.microBatches(step: 0, count: 1, batch: 2, length: 6, vocabulary: config.vocabularySize)[0]
        @Sendable func greedy(_ engine: MeshEngine) throws -> (logits: [Float], loss: Double, tokens: [Int32]) {
            let decoder = try SequenceDecoder(engine)
            var logits = try decoder.decode(prompt), tokens: [Int32] = []
            for _ in 0..<5 {
                let next = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
                tokens.append(next)
                logits = try decoder.decode([next])
            }
            return (try engine.nextTokenLogits(prompt), try engine.evaluate(batch).lossSum, tokens)
        }
        let reference = try greedy(MeshEngine(config: config, seed: 4))
        let layout = try ParallelConfig(pp: pp, tp: tp, pipeline: .init(schedule: virtualStages > 1 ? .interleaved : .oneForwardOneBackward,
                                                                         virtualStages: virtualStages))
        let results = try ThreadGroup.run(ranks: tp * pp, deadline: .seconds(30)) { world in
            let groups = try ProcessGroups(world: world, mesh: layout.deviceMesh())
            return try greedy(MeshEngine(config: config, parallel: layout, groups: groups, seed: 4))
        }
        for result in results {
            #expect(result.tokens == reference.tokens)
            #expect(zip(result.logits, reference.logits).allSatisfy { abs($0 - $1) < 1e-5 })
            #expect(abs(result.loss - reference.loss) <= 1e-5 * reference.loss)
        }
        let broken = try ThreadGroup.run(ranks: pp, deadline: .seconds(30)) { world -> [Float] in
            let single = try ParallelConfig(pp: pp)
            let groups = try ProcessGroups(world: world, mesh: single.deviceMesh())
            let engine = try MeshEngine(config: config, parallel: single, groups: groups, seed: 4)
            engine.model.store.values.pointer.update(repeating: 0, count: world.rank == 0 ? engine.model.store.count : 0)
            return try engine.nextTokenLogits(prompt)
        }
        #expect(!zip(broken[0], reference.logits).allSatisfy { abs($0 - $1) < 1e-5 })
    }
}

/// One sequence decoded step by step through the batched path (a batch of one), with a pool of `capacity`
/// tokens (one context unless given).
struct SequenceDecoder {
    let engine: MeshEngine
    let pool: KVBlockPool
    let table = KVBlockTable()

    init(_ engine: MeshEngine, capacity: Int? = nil) throws {
        self.engine = engine
        let tokens = capacity ?? engine.config.contextLength
        pool = try engine.makeBlockPool(blocks: (tokens + 3) / 4, blockSize: 4, longestSequence: tokens)
    }

    /// Logits of the token after `tokens`, which continue those decoded so far.
    func decode(_ tokens: [Int32]) throws -> [Float] {
        try engine.decode([DecodeSegment(sequence: table, tokens: tokens)], pool: pool)[0]
    }
}
