import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTensor

/// Batched decoding: eight sequences of different prompt lengths that join at different steps (so prompt chunks
/// share steps with other sequences' decode rows) get, token for token and bit for bit, the logits each gets alone;
/// on tp and pp the batch gives the single device's tokens.
@Suite(.serialized) struct BatchedDecodingTests {
    static let prompts: [[Int32]] = [[3, 14, 15, 9, 26], [5], [35, 8, 9, 7, 9, 3, 2], [38, 4], [6, 2, 6, 4, 3, 3, 8, 3, 2],
                                     [7, 9, 5], [0, 28, 8, 4], [19, 7, 1, 6, 9, 3]]

    /// Greedy decoding of `prompts` (sequence `i` joins at step `joins[i]`), prompts in chunks of 3 tokens, until each
    /// has `tokens` new ids; every step runs as one batched call. Returns each sequence's logits, one per new id.
    static func greedy(_ engine: MeshEngine, prompts: [[Int32]], joins: [Int], tokens: Int, cacheType: DType = .f32,
                       corrupt: ((KVBlockTable) -> Void)? = nil) throws -> [[[Float]]] {
        let pool = try engine.makeBlockPool(blocks: prompts.count * 4, blockSize: 4, cacheType: cacheType)
        let tables = prompts.map { _ in KVBlockTable() }
        var pending = prompts, logits = prompts.map { _ in [[Float]]() }
        var step = 0
        while logits.contains(where: { $0.count < tokens }) {
            let running = prompts.indices.filter { joins[$0] <= step && logits[$0].count < tokens }
            let segments = running.map { DecodeSegment(sequence: tables[$0], tokens: Array(pending[$0].prefix(3))) }
            let results = try engine.decode(segments, pool: pool)
            for (k, i) in running.enumerated() {
                pending[i].removeFirst(segments[k].tokens.count)
                guard pending[i].isEmpty else { continue }
                logits[i].append(results[k])
                pending[i] = [Int32(results[k].indices.max { results[k][$0] < results[k][$1] }!)]
                if step == 2, let corrupt { corrupt(tables[i]) }
            }
            step += 1
        }
        return logits
    }

    static func together(_ engine: MeshEngine, cacheType: DType = .f32, corrupt: ((KVBlockTable) -> Void)? = nil) throws -> [[[Float]]] {
        try greedy(engine, prompts: prompts, joins: [0, 0, 1, 2, 2, 3, 5, 6], tokens: 6, cacheType: cacheType, corrupt: corrupt)
    }

    static func alone(_ engine: MeshEngine, cacheType: DType = .f32) throws -> [[[Float]]] {
        try prompts.map { try greedy(engine, prompts: [$0], joins: [0], tokens: 6, cacheType: cacheType)[0] }
    }

    /// F16 and Q8_0 key/value caches: batch invariance holds bit for bit (each row is encoded on its own), and each
    /// sequence's first new-token logits (its prompt read back from the cache in chunks of 3) stay within a stated
    /// distance of the F32 cache's: 2e-3 (F16) and 3e-2 (Q8_0) of the largest logit's magnitude. The models are the
    /// tiny ones made 64 wide with heads of 32, so each head's key/value row fills a whole Q8_0 block.
    @Test(arguments: [(DType.f16, Float(2e-3)), (.q8_0, 3e-2)])
    func compressedCachesKeepBatchInvarianceAndStayClose(cacheType: DType, tolerance: Float) throws {
        let llama = TransformerConfig.llama(vocabularySize: 61, contextLength: 16, hiddenSize: 64, layers: 2, heads: 2, kvHeads: 1,
                                            intermediateSize: 64, tiedEmbeddings: false)
        let gpt2 = TransformerConfig.gpt2(vocabularySize: 61, contextLength: 16, hiddenSize: 64, layers: 2, heads: 2, intermediateSize: 96)
        for config in [llama, gpt2] {
            let engine = try MeshEngine(config: config, seed: 4)
            let batched = try Self.together(engine, cacheType: cacheType)
            #expect(try batched == Self.alone(engine, cacheType: cacheType))
            for (sequence, exact) in zip(batched, try Self.together(engine)) {
                let (row, want) = (sequence[0], exact[0]), scale = want.map(abs).max()!
                #expect(zip(row, want).allSatisfy { abs($0 - $1) <= tolerance * scale }, "\(cacheType): \(zip(row, want).map { abs($0 - $1) }.max()! / scale)")
                #expect(row != want, "a compressed cache that changes nothing would not be compressed")
            }
        }
    }

    @Test(arguments: [TinyConfigs.llama, TinyConfigs.gpt2])
    func aSequenceGetsTheSameBitsAloneAndInABatchOfEight(config: TransformerConfig) throws {
        let engine = try MeshEngine(config: config, seed: 4)
        #expect(try Self.together(engine) == Self.alone(engine))
    }

    /// Non-vacuity: a batch that loses one cached token of its sequences (each table's count set one short after
    /// step 2, so the next token overwrites it) changes what the batch returns, so the comparison above sees a
    /// broken cache.
    @Test func aBatchThatLosesACachedTokenIsCaught() throws {
        let engine = try MeshEngine(config: TinyConfigs.llama, seed: 4)
        let broken = try Self.together(engine) { $0.count -= 1 }
        #expect(try broken != Self.alone(engine))
    }

    /// The batch on tp = 2, pp = 2 and tp × pp threads: the single device's greedy tokens, logits within 1e-5, and
    /// within each layout still alone equals batched, bit for bit.
    @Test(arguments: [(2, 1), (1, 2), (2, 2)])
    func layoutsDecodeTheBatchAsOneDevice(tp: Int, pp: Int) throws {
        let config = TinyConfigs.llama
        let reference = try Self.together(MeshEngine(config: config, seed: 4))
        let layout = try ParallelConfig(pp: pp, tp: tp)
        let results = try ThreadGroup.run(ranks: tp * pp, deadline: .seconds(60)) { world in
            let engine = try MeshEngine(config: config, parallel: layout, groups: ProcessGroups(world: world, mesh: layout.deviceMesh()), seed: 4)
            let batched = try Self.together(engine)
            return (batched, try Self.alone(engine) == batched)
        }
        for (batched, invariant) in results {
            #expect(invariant)
            for (sequence, expected) in zip(batched, reference) {
                for (row, want) in zip(sequence, expected) {
                    #expect(row.indices.max { row[$0] < row[$1] } == want.indices.max { want[$0] < want[$1] })
                    #expect(zip(row, want).allSatisfy { abs($0 - $1) < 1e-5 })
                }
            }
        }
    }

    @Test func badBatchesAndPoolsAreTypedErrors() throws {
        let engine = try MeshEngine(config: TinyConfigs.llama, seed: 4)
        #expect(throws: KVCacheError.poolTooSmall(blocks: 3, blockSize: 4, longestSequence: 16)) {
            try engine.makeBlockPool(blocks: 3, blockSize: 4)
        }
        let pool = try engine.makeBlockPool(blocks: 5, blockSize: 4)
        let a = KVBlockTable(), b = KVBlockTable()
        _ = try engine.decode([DecodeSegment(sequence: a, tokens: Array(repeating: 1, count: 13))], pool: pool)
        #expect(throws: KVCacheError.outOfBlocks(needed: 2, free: 1)) {
            try engine.decode([DecodeSegment(sequence: b, tokens: [1, 2, 3, 4, 5])], pool: pool)
        }
        #expect(throws: ModelError.self) { try engine.decode([DecodeSegment(sequence: a, tokens: [1, 2, 3, 4])], pool: pool) }
        #expect(throws: ModelError.self) {
            try engine.decode([DecodeSegment(sequence: b, tokens: [1]), DecodeSegment(sequence: b, tokens: [2])], pool: pool)
        }
        #expect(throws: ModelError.self) { try engine.decode([DecodeSegment(sequence: b, tokens: [99])], pool: pool) }
        pool.release(a)
        #expect(pool.freeBlocks == 5)
    }
}
