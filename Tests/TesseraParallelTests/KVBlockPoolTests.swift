import Foundation
import Testing
import TesseraParallel
import TesseraTensor

/// The key/value block pool: sequences borrow blocks as they grow and return them; what is stored is what is
/// gathered, across block boundaries; a pool too small for one sequence, or out of blocks, is a typed error.
@Suite struct KVBlockPoolTests {
    @Test func blocksAreBorrowedAndReturned() throws {
        let pool = try KVBlockPool(blocks: 6, blockSize: 4, layers: 2, kvHeads: 1, headDim: 3, longestSequence: 16)
        let a = KVBlockTable(), b = KVBlockTable()
        try pool.reserve(a, tokens: 5)
        try pool.reserve(b, tokens: 4)
        #expect(a.blocks.count == 2 && b.blocks.count == 1 && pool.freeBlocks == 3 && pool.usedBlocks == 3)
        try pool.reserve(a, tokens: 8)
        #expect(a.blocks.count == 2)
        #expect(Set(a.blocks).isDisjoint(with: b.blocks))
        pool.release(a)
        #expect(a.blocks.isEmpty && a.count == 0 && pool.freeBlocks == 5)
        try pool.reserve(b, tokens: 24)
        #expect(pool.freeBlocks == 0)
    }

    /// Sequences prefilled one after another and then decoded together each keep one run of consecutive blocks (the
    /// attention kernel streams a head's run of a sequence); a first-free allocator, which the same check catches,
    /// would have the four sequences take turns at the next free block. A pool fragmented by releases still hands out
    /// every free block.
    @Test func sequencesGrowingTogetherKeepConsecutiveBlocks() throws {
        func isOneRun(_ blocks: [Int]) -> Bool { zip(blocks, blocks.dropFirst()).allSatisfy { $1 == $0 + 1 } }
        let pool = try KVBlockPool(blocks: 64, blockSize: 4, layers: 1, kvHeads: 1, headDim: 2, longestSequence: 32)
        let tables = (0..<4).map { _ in KVBlockTable() }
        for table in tables { try pool.reserve(table, tokens: 8) }
        for tokens in 9...32 {
            for table in tables { try pool.reserve(table, tokens: tokens) }
        }
        #expect(tables.allSatisfy { $0.blocks.count == 8 && isOneRun($0.blocks) }, "\(tables.map(\.blocks))")
        #expect(Set(tables.flatMap(\.blocks)).count == 32 && pool.freeBlocks == 32)
        // What handing out the lowest free block would give: the sequences' decoding blocks alternate.
        var turns = (0..<4).map { s in [2 * s, 2 * s + 1] }, next = 8
        for _ in 0..<6 { for s in 0..<4 { turns[s].append(next); next += 1 } }
        #expect(!turns.contains(where: isOneRun))

        for (s, table) in tables.enumerated() where s % 2 == 0 { pool.release(table) }
        let large = KVBlockTable()
        try pool.reserve(large, tokens: 4 * 48)
        #expect(large.blocks.count == 48 && pool.freeBlocks == 0 && Set(large.blocks).isDisjoint(with: tables[1].blocks + tables[3].blocks))
        #expect(throws: KVCacheError.outOfBlocks(needed: 1, free: 0)) { try pool.reserve(tables[1], tokens: 33) }
    }

    /// Two key/value heads of one value each, so gathering interleaves the heads' separately stored rows.
    @Test func storedRowsComeBackInPositionOrderAcrossBlocks() throws {
        let pool = try KVBlockPool(blocks: 8, blockSize: 4, layers: 3, kvHeads: 2, headDim: 1, longestSequence: 16)
        let other = KVBlockTable(), table = KVBlockTable()
        try pool.reserve(other, tokens: 4)  // so the table's blocks are not the first ones
        try pool.reserve(table, tokens: 10)
        let rows: [Float] = (0..<10 * 5).map(Float.init)  // rows of stride 5: key at 0..<2, value at 2..<4
        rows.withUnsafeBufferPointer { p in
            // Positions 0..<7, then 7..<10: a store that starts inside a block.
            pool.store(keys: p.baseAddress!, values: p.baseAddress! + 2, rowStride: 5, count: 7, at: 0, of: table, layer: 1)
            pool.store(keys: p.baseAddress! + 35, values: p.baseAddress! + 37, rowStride: 5, count: 3, at: 7, of: table, layer: 1)
        }
        let (keys, values) = pool.gather(table, tokens: 10, layer: 1)
        for t in 0..<10 {
            #expect(Array(UnsafeBufferPointer(start: keys + 2 * t, count: 2)) == [Float(5 * t), Float(5 * t + 1)])
            #expect(Array(UnsafeBufferPointer(start: values + 2 * t, count: 2)) == [Float(5 * t + 2), Float(5 * t + 3)])
        }
        let zero = pool.gather(table, tokens: 10, layer: 0)
        #expect(UnsafeBufferPointer(start: zero.keys, count: 20).allSatisfy { $0 == 0 })
    }

    @Test func aPoolTooSmallForOneSequenceIsRefused() throws {
        #expect(throws: KVCacheError.poolTooSmall(blocks: 3, blockSize: 16, longestSequence: 64)) {
            try KVBlockPool(blocks: 3, blockSize: 16, layers: 1, kvHeads: 1, headDim: 4, longestSequence: 64)
        }
        let message = KVCacheError.poolTooSmall(blocks: 3, blockSize: 16, longestSequence: 64).description
        #expect(message.contains("48 tokens") && message.contains("at least 4 blocks"))
        #expect(throws: KVCacheError.invalidSize(what: "block size", value: 0)) {
            try KVBlockPool(blocks: 3, blockSize: 0, layers: 1, kvHeads: 1, headDim: 4, longestSequence: 1)
        }
    }

    @Test func runningOutOfBlocksTakesNothing() throws {
        let pool = try KVBlockPool(blocks: 4, blockSize: 2, layers: 1, kvHeads: 1, headDim: 1, longestSequence: 8)
        let a = KVBlockTable(), b = KVBlockTable()
        try pool.reserve(a, tokens: 5)
        #expect(throws: KVCacheError.outOfBlocks(needed: 2, free: 1)) { try pool.reserve(b, tokens: 3) }
        #expect(b.blocks.isEmpty && pool.freeBlocks == 1)
    }

    /// F16 and Q8_0 rows come back within their format's rounding (F16: 2⁻¹¹ relative; Q8_0: half a step of
    /// `amax / 127` per 32 values), take half and 34/128 of the F32 bytes, and F32 comes back exactly.
    @Test func compressedRowsComeBackWithinTheirRounding() throws {
        let width = 64, tokens = 20  // two heads of 32
        let rows: [Float] = (0..<tokens * 2 * width).map { (i: Int) -> Float in Float(sin(Double(i) * 0.37) * 3) }
        var bytes: [DType: Int] = [:]
        for type in KVBlockPool.cacheTypes {
            let pool = try KVBlockPool(blocks: 6, blockSize: 4, layers: 2, kvHeads: 2, headDim: 32, longestSequence: 24, cacheType: type)
            bytes[type] = pool.byteCount
            let table = KVBlockTable()
            try pool.reserve(table, tokens: tokens)
            rows.withUnsafeBufferPointer { p in
                pool.store(keys: p.baseAddress!, values: p.baseAddress! + width, rowStride: 2 * width, count: tokens, at: 0, of: table, layer: 1)
            }
            let (keys, values) = pool.gather(table, tokens: tokens, layer: 1)
            for t in 0..<tokens {
                for (stored, column) in [(keys, 0), (values, width)] {
                    let original = Array(rows[(2 * t * width + column)...].prefix(width))
                    let back = Array(UnsafeBufferPointer(start: stored + t * width, count: width))
                    for block in stride(from: 0, to: width, by: 32) {
                        let amax = original[block..<block + 32].map(abs).max()!
                        for j in block..<block + 32 {
                            let bound: Float = switch type {
                            case .f32: 0
                            case .f16: abs(original[j]) / 2048
                            default: amax / 127 / 2 * 1.01 + abs(original[j]) / 1024
                            }
                            #expect(abs(back[j] - original[j]) <= bound, "\(type) row \(t) column \(j)")
                        }
                    }
                }
            }
        }
        #expect(bytes[.f16]! * 2 == bytes[.f32]!)
        #expect(bytes[.q8_0]! * 128 == bytes[.f32]! * 34)
    }

    @Test func cacheTypesWithoutAPoolPathAreRefused() throws {
        #expect(throws: KVCacheError.unsupportedType(.q4_0)) {
            try KVBlockPool(blocks: 2, blockSize: 4, layers: 1, kvHeads: 1, headDim: 32, longestSequence: 8, cacheType: .q4_0)
        }
        #expect(KVCacheError.unsupportedType(.q4_0).description.contains("F32, F16, Q8_0"))
        // Two heads of 48: the 96-value token row would be whole Q8_0 blocks, each head's row is not.
        #expect(throws: KVCacheError.headNotWholeBlocks(headDim: 48, type: .q8_0)) {
            try KVBlockPool(blocks: 2, blockSize: 4, layers: 1, kvHeads: 2, headDim: 48, longestSequence: 8, cacheType: .q8_0)
        }
        let message = KVCacheError.headNotWholeBlocks(headDim: 48, type: .q8_0).description
        #expect(message.contains("head of 48 values") && message.contains("--kv-cache-type f16"))
    }

    /// The documented layout (`PagedKeyValues`): head `g`'s value row of position `p` in layer `l` lies at
    /// `layerOffset + g · headStride + block · blockStride + row · rowBytes`, its key in the same block's key tile
    /// (blocks of 4 rows here: one tile of width 4, element `e` of row `r` at `(e · 4 + r) · 4` bytes into the block), and a
    /// head's rows of consecutive blocks are contiguous. Checked by reading the stored floats where the layout says
    /// they are; an address with the head offset one row off reads other values (non-vacuity).
    @Test func eachHeadsRowsOfConsecutiveBlocksAreContiguous() throws {
        let (heads, d, tokens) = (3, 4, 11)
        let pool = try KVBlockPool(blocks: 5, blockSize: 4, layers: 2, kvHeads: heads, headDim: d, longestSequence: 16)
        let table = KVBlockTable()
        try pool.reserve(table, tokens: tokens)
        let rows: [Float] = (0..<tokens * heads * d).map { Float($0) + 1 }
        pool.store(keys: rows, values: rows.map { -$0 }, rowStride: heads * d, count: tokens, at: 0, of: table, layer: 1)
        let kv = pool.keyValues(layer: 1)
        #expect(kv.rowBytes == 4 * d && kv.blockStride == 4 * kv.rowBytes && kv.headStride == 5 * kv.blockStride)
        #expect(kv.layerOffset == heads * kv.headStride)
        #expect(table.blocks == [0, 1, 2])  // handed out in increasing order, so the sequence's rows are one run per head
        func block(head: Int, position p: Int, headStride: Int) -> Int {
            kv.layerOffset + head * headStride + table.blocks[p / 4] * kv.blockStride
        }
        func value(head: Int, position p: Int, headStride: Int) -> [Float] {
            (0..<d).map { kv.values.load(fromByteOffset: block(head: head, position: p, headStride: headStride) + (p % 4) * kv.rowBytes + 4 * $0, as: Float.self) }
        }
        func key(head: Int, position p: Int, headStride: Int) -> [Float] {
            (0..<d).map { kv.keys.load(fromByteOffset: block(head: head, position: p, headStride: headStride) + ($0 * 4 + p % 4) * 4, as: Float.self) }
        }
        for p in 0..<tokens {
            for g in 0..<heads {
                let expected = Array(rows[(p * heads + g) * d..<(p * heads + g + 1) * d])
                #expect(key(head: g, position: p, headStride: kv.headStride) == expected)
                #expect(value(head: g, position: p, headStride: kv.headStride) == expected.map { -$0 })
                // The run is contiguous: position p of head g is p rows after position 0 of head g.
                #expect(kv.values.load(fromByteOffset: kv.layerOffset + g * kv.headStride + p * kv.rowBytes, as: Float.self) == -expected[0])
                if g > 0 {
                    #expect(key(head: g, position: p, headStride: kv.headStride + kv.rowBytes) != expected)
                    #expect(value(head: g, position: p, headStride: kv.headStride + kv.rowBytes) != expected.map { -$0 })
                }
            }
        }
    }
}
