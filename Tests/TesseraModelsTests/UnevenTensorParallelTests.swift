import Foundation
import Testing
import TesseraCollectives
import TesseraFormats
import TesseraModels
import TesseraNN
import TesseraParallel

/// Tensor parallelism with a tp that divides neither the heads, the key/value heads, the MLP width nor the
/// vocabulary (balanced shares, ``TransformerConfig/queryHeads(tp:rank:)``), against the single device: training
/// (losses, gradients, parameters, with the tolerances of ``TensorParallelEquivalenceTests``) and greedy generation.
@Suite(.serialized) struct UnevenTensorParallelTests {
    /// 6 query heads over 2 key/value heads, 70 MLP features, 61 vocabulary entries: tp = 3 gives 2 + 2 + 2 heads with
    /// rank 1 reading both key/value heads; tp = 4 gives 2 + 2 + 1 + 1.
    static let llama = TransformerConfig.llama(vocabularySize: 61, contextLength: 16, hiddenSize: 48, layers: 2, heads: 6, kvHeads: 2,
                                               intermediateSize: 70, tiedEmbeddings: false)
    /// 5 heads, 95 MLP features, 61 vocabulary entries: none divides by 2 or 3.
    static let gpt2 = TransformerConfig.gpt2(vocabularySize: 61, contextLength: 16, hiddenSize: 40, layers: 2, heads: 5,
                                             intermediateSize: 95)

    static let references = [llama, gpt2, TinyConfigs.llama, TinyConfigs.qwen2].map { config in (config, try! Harness.train(config, tp: 1)) }

    static func reference(_ config: TransformerConfig) -> TrainingRun { references.first { $0.0 == config }!.1 }

    /// The shares the rule gives: SmolLM2 on tp = 2 is 5 + 4 query heads reading key/value heads 0–1 and 1–2.
    @Test func sharesOfSmolLM2AndTheTinyModels() throws {
        let smol = try TransformerConfig.preset(named: "smollm2-135m")
        #expect((0..<2).map { smol.queryHeads(tp: 2, rank: $0) } == [0..<5, 5..<9])
        #expect((0..<2).map { smol.keyValueHeads(tp: 2, rank: $0) } == [0..<2, 1..<3])
        #expect(smol.replicatesKeyValueHeads(tp: 2) && !smol.replicatesKeyValueHeads(tp: 3))
        #expect((0..<4).map { Self.llama.keyValueHeads(tp: 4, rank: $0) } == [0..<1, 0..<2, 1..<2, 1..<2])
        #expect((0..<3).map { Self.gpt2.mlpFeatures(tp: 3, rank: $0).count } == [32, 32, 31])
        #expect((0..<3).map { Self.gpt2.vocabularyShare(tp: 3, rank: $0).count } == [21, 20, 20])
        #expect(!Self.gpt2.replicatesKeyValueHeads(tp: 3))
    }

    @Test(arguments: [(llama, 3, false), (llama, 3, true), (llama, 4, false), (llama, 4, true), (gpt2, 2, true), (gpt2, 3, false),
                      (TinyConfigs.llama, 3, false), (TinyConfigs.qwen2, 3, false)])
    func trainingMatchesSingleDevice(config: TransformerConfig, tp: Int, sequenceParallel: Bool) throws {
        let run = try Harness.train(config, tp: tp, sequenceParallel: sequenceParallel)
        TensorParallelEquivalenceTests.expectEqual(run, Self.reference(config))
    }

    /// Small gradient buckets: each sums its tp-partial gradients (replicated key/value heads, sequence-parallel
    /// norms) apart, so every tp rank must cut the same buckets although its shards differ in size.
    @Test func smallGradientBucketsMatchSingleDevice() throws {
        let run = try Harness.train(Self.llama, tp: 3, sequenceParallel: true, bucketElements: 2000)
        TensorParallelEquivalenceTests.expectEqual(run, Self.reference(Self.llama))
    }

    /// The same greedy tokens and prompt logits as one device, through the key/value caches.
    @Test(arguments: [(llama, 3), (llama, 4), (gpt2, 3)])
    func greedyGenerationMatchesSingleDevice(config: TransformerConfig, tp: Int) throws {
        let prompt: [Int32] = [3, 14, 15, 9, 26]
        let reference = try Self.greedy(MeshEngine(config: config, seed: 4), prompt: prompt)
        let results = try ThreadGroup.run(ranks: tp, deadline: .seconds(30)) { world in
            try Self.greedy(MeshEngine(config: config, groups: ProcessGroups(world: world, mesh: DeviceMesh(tp: tp)), seed: 4), prompt: prompt)
        }
        for result in results {
            #expect(result.tokens == reference.tokens)
            #expect(zip(result.logits, reference.logits).allSatisfy { abs($0 - $1) < 1e-5 })
        }
    }

    /// The prompt's next-token logits and `count` greedy tokens decoded with key/value caches.
    static func greedy(_ engine: MeshEngine, prompt: [Int32], count: Int = 8) throws -> (logits: [Float], tokens: [Int32]) {
        let caches = engine.makeCaches()
        var logits = try engine.decode(prompt, caches: caches), tokens: [Int32] = []
        let first = logits
        for _ in 0..<count {
            tokens.append(Int32(logits.indices.max { logits[$0] < logits[$1] }!))
            logits = try engine.decode([tokens.last!], caches: caches)
        }
        return (first, tokens)
    }

    /// Block 0's attention on tp ranks (reduced over tp) equals the single device's when each rank computes the
    /// key/value heads its query heads read; the same comparison fails when a rank's query heads read a
    /// neighbouring key/value head instead (a split that does not keep each query head with its key/value head).
    @Test func attentionKeepsEachQueryHeadWithItsKeyValueHead() throws {
        #expect(try Self.attentionDifference(Self.llama, tp: 3, shiftingKeyValueHeads: false) < 1e-5)
        #expect(try Self.attentionDifference(Self.llama, tp: 3, shiftingKeyValueHeads: true) > 1e-3)
    }

    /// The largest difference between block 0's attention output on `tp` ranks and on one device, for 2 sequences
    /// of 5 tokens; with `shiftingKeyValueHeads` each rank that can reads the key/value heads one after its own.
    static func attentionDifference(_ config: TransformerConfig, tp: Int, shiftingKeyValueHeads: Bool) throws -> Float {
        let tokens = 10, hidden = config.hiddenSize
        let x = (0..<tokens * hidden).map { Float(sin(Double($0) * 0.37)) }
        @Sendable func output(_ attention: ParallelAttention) throws -> [Float] {
            let input = FloatBuffer(count: tokens * hidden)
            x.withUnsafeBufferPointer { input.pointer.update(from: $0.baseAddress!, count: x.count) }
            let state = ParallelAttention.State(), workspace = Workspace()
            let y = try attention.forward(input.pointer, batch: 2, length: 5, state: state, workspace: workspace)
            return withExtendedLifetime((state, workspace)) { Array(UnsafeBufferPointer(start: y, count: tokens * hidden)) }
        }
        let single = try output(Transformer(config: config, seed: 7).chunks[0].blocks[0].attention)
        let outputs = try ThreadGroup.run(ranks: tp, deadline: .seconds(30)) { world in
            let attention = try Transformer(config: config, context: LayerContext(tensor: world), seed: 7).chunks[0].blocks[0].attention
            guard shiftingKeyValueHeads else { return try output(attention) }
            let heads = config.keyValueHeads(tp: tp, rank: world.rank), d = config.attention.headDim
            let shift = heads.upperBound < config.attention.kvHeads ? 1 : heads.lowerBound > 0 ? -1 : 0
            let parts = attention.projection.parts.enumerated().map { i, part -> ColumnParallelLinear.Part in
                guard i > 0 else { return part }  // the query part; then key and value (replicated at tp = 3)
                return .init(weight: part.weight, bias: part.bias, layout: part.products.layout, inFeatures: hidden,
                             outputs: (heads.lowerBound + shift) * d..<(heads.upperBound + shift) * d)
            }
            return try output(ParallelAttention(
                projection: ColumnParallelLinear(parts: parts, context: attention.context), output: attention.output,
                heads: attention.heads, kvHeads: attention.kvHeads, headDim: d, groupSize: attention.groupSize,
                groupOffset: attention.groupOffset, rotary: attention.rotary, context: attention.context))
        }
        return outputs.map { zip($0, single).map { abs($0 - $1) }.max()! }.max()!
    }

    /// Sequence parallelism splits each micro-batch's tokens over tp in equal shares: a token count tp does not
    /// divide is refused, naming the fix.
    @Test func sequenceParallelismNeedsTokensThatSplitEvenly() throws {
        let batch = Harness.microBatches(step: 0, count: 1, batch: 2, length: 6, vocabulary: 61)[0]
        #expect(throws: ModelError.self) { try batch.validate(for: Self.gpt2, tp: 5, sequenceParallel: true) }
        try batch.validate(for: Self.gpt2, tp: 5, sequenceParallel: false)
    }

    /// SmolLM2-135M-Instruct (9 heads, 3 key/value heads) on tp = 2, from the Q4_1 GGUF that `make assets` fetches:
    /// the 12 greedy tokens and the prompt logits (within 1e-4 of the largest) that ``SmolLM2ReferenceTests`` checks
    /// one device against (transformers on the same dequantized weights). Skipped when the file is absent.
    @Test(.enabled(if: SmolLM2ReferenceTests.available, "models/SmolLM2-135M-Instruct.Q4_1.gguf is missing; run make assets"))
    func smolLM2OnTwoRanksGeneratesTheSingleDeviceTokens() throws {
        let fixture = try SafeTensorsFile(path: Bundle.module.url(forResource: "Fixtures/smollm2-135m", withExtension: "safetensors")!.path)
        func ids(_ name: String) throws -> [Int32] { try fixture.tensor(named: name).scalars.map { Int32($0) } }
        let prompt = try ids("prompt_ids"), expected = try ids("greedy_ids")
        let logits = try fixture.tensor(named: "prompt_logits").scalars, scale = logits.map(abs).max()!
        let results = try ThreadGroup.run(ranks: 2, deadline: .seconds(120)) { world in
            try Self.greedy(MeshEngine(gguf: SmolLM2ReferenceTests.gguf, groups: ProcessGroups(world: world, mesh: DeviceMesh(tp: 2))),
                            prompt: prompt, count: expected.count)
        }
        for result in results {
            #expect(result.tokens == expected)
            #expect(zip(result.logits, logits).allSatisfy { abs($0 - $1) <= 1e-4 * scale })
        }
    }
}
