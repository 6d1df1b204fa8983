import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel

/// `logitsOfEveryRow` (a prompt's log-probabilities in the server): a segment that asks gets the logits after each
/// of its tokens, over more rows than one pass of the head takes, equal to the whole-sequence forward's; its last
/// row and every other segment get exactly what they get without it; tp and pp give the single device's rows.
@Suite(.serialized) struct EveryRowLogitsTests {
    /// Context 40, so that a 20-token chunk takes two passes of the head (16 rows each).
    static let config = TransformerConfig.llama(vocabularySize: 61, contextLength: 40, hiddenSize: 32, layers: 2, heads: 4,
                                                kvHeads: 2, intermediateSize: 64, tiedEmbeddings: false)
    static let first: [Int32] = [3, 14, 15, 9, 26], other: [Int32] = [5, 8]
    static let chunk: [Int32] = (0..<20).map { Int32(($0 * 7 + 3) % 61) }

    /// Two steps of two sequences: their first tokens, then `chunk` after `first` (every row asked when `everyRow`)
    /// beside one token of the other sequence. Returns the second step's logits.
    static func secondStep(_ engine: MeshEngine, everyRow: Bool) throws -> [[Float]] {
        let pool = try engine.makeBlockPool(blocks: 20, blockSize: 4)
        let a = KVBlockTable(), b = KVBlockTable()
        _ = try engine.decode([DecodeSegment(sequence: a, tokens: first), DecodeSegment(sequence: b, tokens: other)], pool: pool)
        return try engine.decode([DecodeSegment(sequence: a, tokens: chunk, logitsOfEveryRow: everyRow),
                                  DecodeSegment(sequence: b, tokens: [7])], pool: pool)
    }

    static func rows(_ logits: [Float]) -> [[Float]] {
        let v = config.vocabularySize
        return stride(from: 0, to: logits.count, by: v).map { Array(logits[$0..<$0 + v]) }
    }

    static func close(_ a: [[Float]], _ b: [[Float]], tolerance: Float = 1e-5) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in zip(x, y).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) } }
    }

    /// The whole-sequence forward's logits after each token of `chunk` (after `first`).
    static func reference(_ engine: MeshEngine) throws -> [[Float]] {
        let tokens = first + chunk
        return Array(rows(try engine.logits(MicroBatch(tokens: tokens, targets: nil, batch: 1, length: tokens.count))).suffix(chunk.count))
    }

    @Test func everyRowEqualsTheWholeSequenceForwardAndLeavesTheRestAlone() throws {
        let engine = try MeshEngine(config: Self.config, seed: 4)
        let plain = try Self.secondStep(engine, everyRow: false), asked = try Self.secondStep(engine, everyRow: true)
        let rows = Self.rows(asked[0])
        #expect(rows.count == Self.chunk.count)
        #expect(rows.last == plain[0])
        #expect(asked[1] == plain[1])
        #expect(Self.close(rows, try Self.reference(engine)))
    }

    /// Non-vacuity: rows one late (each compared with the next token's reference) fail the comparison above.
    @Test func rowsOneLateAreCaught() throws {
        let engine = try MeshEngine(config: Self.config, seed: 4)
        let rows = Self.rows(try Self.secondStep(engine, everyRow: true)[0])
        #expect(!Self.close(Array(rows.dropFirst()), Array(try Self.reference(engine).dropLast())))
    }

    @Test(arguments: [(2, 1), (1, 2), (2, 2)])
    func layoutsGiveTheSingleDevicesRows(tp: Int, pp: Int) throws {
        let reference = try Self.secondStep(MeshEngine(config: Self.config, seed: 4), everyRow: true)
        let layout = try ParallelConfig(pp: pp, tp: tp)
        let results = try ThreadGroup.run(ranks: tp * pp, deadline: .seconds(60)) { world in
            let engine = try MeshEngine(config: Self.config, parallel: layout, groups: ProcessGroups(world: world, mesh: layout.deviceMesh()), seed: 4)
            return try Self.secondStep(engine, everyRow: true)
        }
        for result in results {
            #expect(Self.close(Self.rows(result[0]), Self.rows(reference[0])))
            #expect(Self.close([result[1]], [reference[1]]))
        }
    }
}
