import Testing
import TesseraNN

@Suite struct ShardingTests {
    /// Collects (local offset, global offset or -1, count) runs.
    func runs(_ sharding: Sharding, _ shape: [Int]) -> [[Int]] {
        var result: [[Int]] = []
        sharding.forEachRun(globalShape: shape) { result.append([$0, $1 ?? -1, $2]) }
        return result
    }

    @Test func plainSplitOfRows() {
        // [4, 3] split in 2 along rows: rank 1 holds global rows 2, 3 = elements 6..<12.
        #expect(runs(.split(dimension: 0, parts: 2, index: 1), [4, 3]) == [[0, 6, 6]])
        #expect(Sharding.split(dimension: 0, parts: 2, index: 1).localShape(ofGlobal: [4, 3]) == [2, 3])
    }

    @Test func columnSplitWithBlocks() {
        // [2, 6] viewed as 3 blocks of 2 columns, split in 2: rank 1 takes column 1 of each block (1, 3, 5).
        let s = Sharding.split(dimension: 1, parts: 2, index: 1, blocks: 3)
        #expect(s.localShape(ofGlobal: [2, 6]) == [2, 3])
        #expect(runs(s, [2, 6]) == [[0, 1, 1], [1, 3, 1], [2, 5, 1], [3, 7, 1], [4, 9, 1], [5, 11, 1]])
    }

    @Test func paddedVocabulary() {
        // 5 rows padded to 6 over 3 ranks: rank 2 holds row 4 and one padding row.
        let s = Sharding.split(dimension: 0, parts: 3, index: 2, paddedExtent: 6)
        #expect(s.localShape(ofGlobal: [5, 2]) == [2, 2])
        #expect(runs(s, [5, 2]) == [[0, 8, 2], [2, -1, 2]])
        #expect(!Sharding.split(dimension: 0, parts: 4, index: 0).fits(globalShape: [5, 2]))
    }

    /// A shard's initial values equal the matching slice of the single-device tensor, bit for bit.
    @Test(arguments: [
        Sharding.split(dimension: 1, parts: 3, index: 2, blocks: 3),
        .split(dimension: 0, parts: 4, index: 3, paddedExtent: 8),
        .split(dimension: 0, parts: 7, index: 3),
    ])
    func shardedInitializationEqualsSliceOfWhole(_ sharding: Sharding) {
        let shape = [7, 9]
        let whole = ParameterSpec(name: "w", globalShape: shape, initialization: .normal(std: 0.02))
        let shard = ParameterSpec(name: "w", globalShape: shape, sharding: sharding, initialization: .normal(std: 0.02))
        var full = [Float](repeating: 0, count: 63), local = [Float](repeating: 1, count: shard.localCount)
        full.withUnsafeMutableBufferPointer { whole.initialize($0, seed: 3) }
        local.withUnsafeMutableBufferPointer { shard.initialize($0, seed: 3) }
        sharding.forEachRun(globalShape: shape) { l, g, count in
            for i in 0..<count { #expect(local[l + i] == (g.map { full[$0 + i] } ?? 0)) }
        }
    }
}
