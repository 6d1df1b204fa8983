import Foundation
import Testing
import TesseraNN

@Suite struct ShardingTests {
    /// Collects (local offset, global offset, count) runs.
    func runs(_ sharding: Sharding, _ shape: [Int]) -> [[Int]] {
        var result: [[Int]] = []
        sharding.forEachRun(globalShape: shape) { result.append([$0, $1, $2]) }
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

    /// Balanced shares: the first `units % parts` pieces hold one unit more; the shares tile the units.
    @Test func balancedSharesTileTheUnits() {
        #expect((0..<2).map { Sharding.balancedShare(of: 9, parts: 2, index: $0) } == [0..<5, 5..<9])
        #expect((0..<4).map { Sharding.balancedShare(of: 6, parts: 4, index: $0) } == [0..<2, 2..<4, 4..<5, 5..<6])
        for units in 1...12 {
            for parts in 1...units {
                let shares = (0..<parts).map { Sharding.balancedShare(of: units, parts: parts, index: $0) }
                #expect(shares.first!.lowerBound == 0 && shares.last!.upperBound == units)
                #expect(zip(shares, shares.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound && $0.count >= $1.count })
                #expect(shares.map(\.count).max()! - shares.map(\.count).min()! <= 1)
            }
        }
    }

    @Test func unevenSplitOfRows() {
        // 5 rows over 3 ranks: 2 + 2 + 1; rank 2 holds row 4.
        let s = Sharding.split(dimension: 0, parts: 3, index: 2)
        #expect(s.localShape(ofGlobal: [5, 2]) == [1, 2])
        #expect(runs(s, [5, 2]) == [[0, 8, 2]])
        #expect(!Sharding.split(dimension: 0, parts: 6, index: 0).fits(globalShape: [5, 2]))
    }

    @Test func unevenSplitOfHeadsInBlocks() {
        // [1, 3 × 3 heads × 2] (a fused q|k|v of 3 heads of 2 columns) over 2 ranks: rank 0 holds heads 0–1 of
        // each block (columns 0–3, 6–9, 12–15), rank 1 head 2 (4–5, 10–11, 16–17).
        let zero = Sharding.split(dimension: 1, parts: 2, index: 0, blocks: 3, granule: 2), one = zero.piece(1)
        #expect(zero.localShape(ofGlobal: [1, 18]) == [1, 12] && one.localShape(ofGlobal: [1, 18]) == [1, 6])
        #expect(zero.ranges(ofGlobal: [1, 18]) == [0..<4, 6..<10, 12..<16])
        #expect(runs(one, [1, 18]) == [[0, 4, 2], [2, 10, 2], [4, 16, 2]])
        #expect(!zero.fits(globalShape: [1, 17]))
    }

    /// A split round-trips through JSON (checkpoint manifests); one written with vocabulary padding (before
    /// balanced shares) is refused, since its pieces lie at other indices.
    @Test func codingRoundTripsAndRefusesPaddedSplits() throws {
        let split = Sharding.split(dimension: 1, parts: 3, index: 2, blocks: 3, granule: 4)
        #expect(try JSONDecoder().decode(Sharding.self, from: JSONEncoder().encode(split)) == split)
        let old = Data(#"{"dimension":0,"parts":2,"index":1,"blocks":1}"#.utf8)
        #expect(try JSONDecoder().decode(Sharding.self, from: old) == .split(dimension: 0, parts: 2, index: 1))
        let padded = Data(#"{"dimension":0,"parts":2,"index":1,"blocks":1,"paddedExtent":62}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Sharding.self, from: padded) }
    }

    /// A shard's initial values equal the matching slice of the single-device tensor, bit for bit.
    @Test(arguments: [
        Sharding.split(dimension: 1, parts: 3, index: 2, blocks: 3),
        .split(dimension: 0, parts: 4, index: 3),
        .split(dimension: 0, parts: 7, index: 3),
        .split(dimension: 1, parts: 2, index: 1, granule: 3),
    ])
    func shardedInitializationEqualsSliceOfWhole(_ sharding: Sharding) {
        let shape = [7, 9]
        let whole = ParameterSpec(name: "w", globalShape: shape, initialization: .normal(std: 0.02))
        let shard = ParameterSpec(name: "w", globalShape: shape, sharding: sharding, initialization: .normal(std: 0.02))
        var full = [Float](repeating: 0, count: 63), local = [Float](repeating: 1, count: shard.localCount)
        full.withUnsafeMutableBufferPointer { whole.initialize($0, seed: 3) }
        local.withUnsafeMutableBufferPointer { shard.initialize($0, seed: 3) }
        sharding.forEachRun(globalShape: shape) { l, g, count in
            for i in 0..<count { #expect(local[l + i] == full[g + i]) }
        }
    }
}
