import Testing
import TesseraParallel

/// The key/value block pool: sequences borrow blocks as they grow and return them; what is stored is what is
/// gathered, across block boundaries; a pool too small for one sequence, or out of blocks, is a typed error.
@Suite struct KVBlockPoolTests {
    @Test func blocksAreBorrowedAndReturned() throws {
        let pool = try KVBlockPool(blocks: 6, blockSize: 4, layers: 2, width: 3, longestSequence: 16)
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

    @Test func storedRowsComeBackInPositionOrderAcrossBlocks() throws {
        let pool = try KVBlockPool(blocks: 8, blockSize: 4, layers: 3, width: 2, longestSequence: 16)
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
            try KVBlockPool(blocks: 3, blockSize: 16, layers: 1, width: 4, longestSequence: 64)
        }
        let message = KVCacheError.poolTooSmall(blocks: 3, blockSize: 16, longestSequence: 64).description
        #expect(message.contains("48 tokens") && message.contains("at least 4 blocks"))
        #expect(throws: KVCacheError.invalidSize(what: "block size", value: 0)) {
            try KVBlockPool(blocks: 3, blockSize: 0, layers: 1, width: 4, longestSequence: 1)
        }
    }

    @Test func runningOutOfBlocksTakesNothing() throws {
        let pool = try KVBlockPool(blocks: 4, blockSize: 2, layers: 1, width: 1, longestSequence: 8)
        let a = KVBlockTable(), b = KVBlockTable()
        try pool.reserve(a, tokens: 5)
        #expect(throws: KVCacheError.outOfBlocks(needed: 2, free: 1)) { try pool.reserve(b, tokens: 3) }
        #expect(b.blocks.isEmpty && pool.freeBlocks == 1)
    }
}
