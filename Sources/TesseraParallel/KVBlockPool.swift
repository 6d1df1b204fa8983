import TesseraNN

/// A shared pool of fixed-size key/value blocks for one rank's attention layers: every running sequence borrows
/// blocks as it grows (its ``KVBlockTable``) and returns them when it ends, so the cache holds what the running
/// sequences use rather than a full context per sequence (vLLM's block manager).
///
/// A block holds `blockSize` consecutive tokens of one sequence for every local layer: keys and values
/// `[layers, blockSize, width]` with `width = kvHeads · headDim` of this rank (rotated keys). Every rank of a
/// model runs the same reservations and releases in the same order, so block numbers agree across ranks.
/// Used from one thread at a time.
public final class KVBlockPool: @unchecked Sendable {
    /// Tokens per block.
    public let blockSize: Int
    /// Blocks in the pool.
    public let blockCount: Int
    /// Attention layers on this rank (its chunks' blocks in model order).
    public let layers: Int
    /// Floats per token and layer (this rank's key/value heads × head dimension).
    public let width: Int
    private let keys: FloatBuffer
    private let values: FloatBuffer
    /// Free block numbers; the last is handed out first.
    private var free: [Int]
    /// Contiguous copies of one sequence's keys and values for one layer (the attention kernel's input).
    let gatheredKeys = FloatBuffer(count: 0)
    let gatheredValues = FloatBuffer(count: 0)

    /// A pool of `blocks` blocks of `blockSize` tokens.
    /// - Parameter longestSequence: the most tokens one sequence may hold (the served context): the pool must
    ///   hold at least one such sequence.
    /// - Throws: ``KVCacheError/poolTooSmall(blocks:blockSize:longestSequence:)`` or
    ///   ``KVCacheError/invalidSize(what:value:)``.
    public init(blocks: Int, blockSize: Int = 16, layers: Int, width: Int, longestSequence: Int) throws {
        guard blockSize >= 1 else { throw KVCacheError.invalidSize(what: "block size", value: blockSize) }
        guard blocks >= 1 else { throw KVCacheError.invalidSize(what: "block count", value: blocks) }
        guard blocks * blockSize >= longestSequence else {
            throw KVCacheError.poolTooSmall(blocks: blocks, blockSize: blockSize, longestSequence: longestSequence)
        }
        self.blockSize = blockSize
        self.blockCount = blocks
        self.layers = layers
        self.width = width
        keys = FloatBuffer(count: blocks * layers * blockSize * width)
        values = FloatBuffer(count: blocks * layers * blockSize * width)
        free = Array((0..<blocks).reversed())
    }

    /// Blocks no sequence holds.
    public var freeBlocks: Int { free.count }
    /// Blocks held by sequences.
    public var usedBlocks: Int { blockCount - free.count }
    /// Bytes of key and value storage.
    public var byteCount: Int { keys.byteCount + values.byteCount }

    /// Blocks that hold `tokens` tokens.
    public func blocks(forTokens tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    /// Gives `table` blocks until it holds `tokens` tokens in all.
    /// - Throws: ``KVCacheError/outOfBlocks(needed:free:)`` (nothing is taken then).
    public func reserve(_ table: KVBlockTable, tokens: Int) throws {
        let needed = blocks(forTokens: tokens) - table.blocks.count
        guard needed > 0 else { return }
        guard needed <= free.count else { throw KVCacheError.outOfBlocks(needed: needed, free: free.count) }
        table.blocks += free.suffix(needed).reversed()
        free.removeLast(needed)
    }

    /// Returns every block of `table` to the pool and empties it.
    public func release(_ table: KVBlockTable) {
        free += table.blocks.reversed()
        table.blocks.removeAll()
        table.count = 0
    }

    /// Writes the keys and values of `count` tokens (rows `rowStride` apart) at positions `start ..< start + count`
    /// of `table` in `layer`; the table must hold those positions (``reserve(_:tokens:)``).
    public func store(keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rowStride: Int, count: Int,
                      at start: Int, of table: KVBlockTable, layer: Int) {
        precondition(start + count <= table.blocks.count * blockSize, "positions beyond the blocks reserved")
        for t in 0..<count {
            let offset = slot(table, position: start + t, layer: layer)
            (keys.pointer + offset).update(from: k + t * rowStride, count: width)
            (values.pointer + offset).update(from: v + t * rowStride, count: width)
        }
    }

    /// The keys and values of positions `0 ..< tokens` of `table` in `layer`, each `[tokens, width]` contiguous
    /// (valid until the next call).
    public func gather(_ table: KVBlockTable, tokens: Int, layer: Int) -> (keys: UnsafePointer<Float>, values: UnsafePointer<Float>) {
        gatheredKeys.reserve(tokens * width)
        gatheredValues.reserve(tokens * width)
        var position = 0
        while position < tokens {
            let run = min(blockSize, tokens - position), offset = slot(table, position: position, layer: layer)
            (gatheredKeys.pointer + position * width).update(from: keys.pointer + offset, count: run * width)
            (gatheredValues.pointer + position * width).update(from: values.pointer + offset, count: run * width)
            position += run
        }
        return (UnsafePointer(gatheredKeys.pointer), UnsafePointer(gatheredValues.pointer))
    }

    /// Offset of `position`'s row in `layer` within the storage.
    private func slot(_ table: KVBlockTable, position: Int, layer: Int) -> Int {
        let (block, row) = position.quotientAndRemainder(dividingBy: blockSize)
        return ((table.blocks[block] * layers + layer) * blockSize + row) * width
    }
}

/// One sequence's blocks in a ``KVBlockPool``, in position order, and how many tokens they hold.
public final class KVBlockTable: @unchecked Sendable {
    /// Block numbers; position `p` lives in `blocks[p / blockSize]`.
    public internal(set) var blocks: [Int] = []
    /// Tokens cached; the position of the next token.
    public var count = 0

    public init() {}
}

/// A key/value pool that cannot serve a request.
public enum KVCacheError: Error, Equatable, CustomStringConvertible {
    /// The pool cannot hold one sequence of the longest length served.
    case poolTooSmall(blocks: Int, blockSize: Int, longestSequence: Int)
    /// Every block is in use.
    case outOfBlocks(needed: Int, free: Int)
    case invalidSize(what: String, value: Int)

    public var description: String {
        switch self {
        case let .poolTooSmall(blocks, blockSize, longest):
            let least = (longest + blockSize - 1) / blockSize
            return "a key/value pool of \(blocks) blocks of \(blockSize) tokens holds \(blocks * blockSize) tokens, fewer than one sequence of \(longest); use at least \(least) blocks or a shorter context"
        case let .outOfBlocks(needed, free):
            return "the key/value pool has \(free) free blocks, \(needed) needed; wait for running sequences to end or give the pool more blocks"
        case let .invalidSize(what, value):
            return "a key/value pool \(what) of \(value) is invalid; it must be at least 1"
        }
    }
}
