import Testing
import TesseraParallel

@Suite struct ContextShardTests {
    /// Every length from cp to 40: the ranks' positions cover the sequence exactly once, rank r holds chunks r and
    /// 2·cp − 1 − r in order, every rank holds a token, and the shares differ by at most 2 tokens.
    @Test(arguments: 1...5)
    func zigZagSharesCoverTheSequence(cp: Int) throws {
        for length in cp...40 {
            let shards = try (0..<cp).map { try ContextShard(length: length, ranks: cp, rank: $0) }
            #expect(shards.flatMap(\.positions).sorted() == Array(0..<length))
            for shard in shards {
                #expect(shard.positions == Array(shard.chunk(shard.rank)) + Array(shard.chunk(2 * cp - 1 - shard.rank)))
                #expect(shard.localLength >= 1 && shard.localLength == shard.localLength(ofRank: shard.rank))
            }
            let lengths = shards.map(\.localLength)
            #expect(lengths.max()! - lengths.min()! <= 2)
        }
    }

    @Test func fourRanksOfSixteenTokens() throws {
        let shard = try ContextShard(length: 16, ranks: 4, rank: 1)
        #expect(shard.positions == [2, 3, 12, 13])
        #expect(try ContextShard(length: 9, ranks: 2, rank: 0).positions == [0, 1, 2, 7, 8])
    }

    @Test func aSequenceShorterThanTheGroupIsRefused() {
        #expect(throws: ContextParallelError.sequenceTooShort(length: 3, cp: 4)) { try ContextShard(length: 3, ranks: 4, rank: 0) }
        #expect(ContextParallelError.sequenceTooShort(length: 3, cp: 4).description.contains("at least 4 tokens"))
    }

    @Test func anUnknownAttentionIsRefused() throws {
        #expect(throws: ContextParallelError.unknownCommunication("mesh")) { try ContextCommunication(named: "mesh") }
        #expect(ContextParallelError.unknownCommunication("mesh").description.contains("ring, allgather, a2a"))
        #expect(try ContextCommunication(named: "a2a") == .a2a)
    }
}
