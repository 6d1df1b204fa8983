import TesseraNN
import TesseraTensor

/// A shared pool of fixed-size key/value blocks for one rank's attention layers: every running sequence borrows
/// blocks as it grows (its ``KVBlockTable``) and returns them when it ends, so the cache holds what the running
/// sequences use rather than a full context per sequence (vLLM's block manager).
///
/// A block holds `blockSize` consecutive tokens of one sequence for every local layer and key/value head (rotated
/// keys). Storage is laid out per (layer, key/value head): keys and values are each
/// `[layers, kvHeads, blocks, blockSize, headDim]`, so the rows of one head in one layer are contiguous across
/// consecutive block numbers; within a block, keys lie in tiles of 16 rows stored dimension by dimension
/// (``PagedKeyValues/storeKey(_:type:headDim:row:blockSize:rowBytes:inBlock:)``). Decoding attention works on one
/// (sequence, head) at a time and streams a sequence's consecutive blocks as one run of memory per head
/// (``keyValues(layer:)``), so ``reserve(_:tokens:)`` keeps each sequence's blocks consecutive where it can. Every rank of a model runs the
/// same reservations and releases in the same order, so block numbers agree across ranks.
///
/// Rows are stored as ``cacheType``: F32 (exact), F16 (half the bytes) or Q8_0 (34 bytes per 32 values, about a
/// quarter: llama.cpp's `--cache-type-k/v q8_0`). Each head's row of each token is encoded on its own (so Q8_0 needs
/// `headDim` a multiple of 32), and what a sequence reads back never depends on the other sequences in the pool
/// (batch invariance holds for every type).
/// Used from one thread at a time, except ``store(keys:values:rowStride:count:at:of:layer:)``, which several threads
/// may call at once for different positions.
public final class KVBlockPool: @unchecked Sendable {
    /// Tokens per block.
    public let blockSize: Int
    /// Blocks in the pool.
    public let blockCount: Int
    /// Attention layers on this rank (its chunks' blocks in model order).
    public let layers: Int
    /// This rank's key/value heads.
    public let kvHeads: Int
    /// Values per head and token.
    public let headDim: Int
    /// Floats per token and layer (this rank's key/value heads × head dimension).
    public var width: Int { kvHeads * headDim }
    /// How rows are stored: ``KVBlockPool/cacheTypes``.
    public let cacheType: DType
    /// Bytes of one head's row (`headDim` values of ``cacheType``).
    private let rowBytes: Int
    private let keys: UnsafeMutableRawPointer
    private let values: UnsafeMutableRawPointer
    private let storageBytes: Int
    /// Whether each block is free.
    private var isFree: [Bool]
    /// Blocks no sequence holds.
    public private(set) var freeBlocks: Int
    /// Contiguous copies of one sequence's keys and values for one layer (the attention kernel's input).
    let gatheredKeys = FloatBuffer(count: 0)
    let gatheredValues = FloatBuffer(count: 0)

    /// A pool of `blocks` blocks of `blockSize` tokens.
    /// - Parameter longestSequence: the most tokens one sequence may hold (the served context): the pool must
    ///   hold at least one such sequence.
    /// - Parameter cacheType: how rows are stored, one of ``cacheTypes``.
    /// - Throws: ``KVCacheError/poolTooSmall(blocks:blockSize:longestSequence:)``,
    ///   ``KVCacheError/invalidSize(what:value:)``, ``KVCacheError/unsupportedType(_:)``, or
    ///   ``KVCacheError/headNotWholeBlocks(headDim:type:)`` when a head's row does not fill whole blocks of a block type.
    public init(blocks: Int, blockSize: Int = 16, layers: Int, kvHeads: Int, headDim: Int, longestSequence: Int,
                cacheType: DType = .f32) throws {
        guard blockSize >= 1 else { throw KVCacheError.invalidSize(what: "block size", value: blockSize) }
        guard blocks >= 1 else { throw KVCacheError.invalidSize(what: "block count", value: blocks) }
        guard blocks * blockSize >= longestSequence else {
            throw KVCacheError.poolTooSmall(blocks: blocks, blockSize: blockSize, longestSequence: longestSequence)
        }
        guard Self.cacheTypes.contains(cacheType) else { throw KVCacheError.unsupportedType(cacheType) }
        guard let rowBytes = try? cacheType.byteCount(forElements: headDim) else {
            throw KVCacheError.headNotWholeBlocks(headDim: headDim, type: cacheType)
        }
        self.blockSize = blockSize
        self.blockCount = blocks
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.cacheType = cacheType
        self.rowBytes = rowBytes
        storageBytes = layers * kvHeads * blocks * blockSize * rowBytes
        // On huge pages where the system allows them: decode attention streams the pool (WeightArena says why).
        keys = WeightArena.allocateRegion(byteCount: storageBytes)
        values = WeightArena.allocateRegion(byteCount: storageBytes)
        keys.initializeMemory(as: UInt8.self, repeating: 0, count: storageBytes)
        values.initializeMemory(as: UInt8.self, repeating: 0, count: storageBytes)
        isFree = Array(repeating: true, count: blocks)
        freeBlocks = blocks
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// The row types a pool stores.
    public static let cacheTypes: [DType] = [.f32, .f16, .q8_0]

    /// Blocks held by sequences.
    public var usedBlocks: Int { blockCount - freeBlocks }
    /// Bytes of key and value storage.
    public var byteCount: Int { 2 * storageBytes }

    /// Blocks that hold `tokens` tokens.
    public func blocks(forTokens tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    /// Gives `table` blocks until it holds `tokens` tokens in all: the blocks after its last one while they are free,
    /// else a run placed by ``runStart(for:)``. So sequences that grow together (decoding steps) each extend their own
    /// run instead of taking turns at the next free block: attention reads a sequence's keys and values per head as
    /// one stream, and on a pool whose blocks alternated between 8 sequences it ran 2.4× slower (C harness,
    /// SmolLM2's batch-8 F16 cache, two threads). Deterministic, so every rank hands out the same blocks.
    /// - Throws: ``KVCacheError/outOfBlocks(needed:free:)`` (nothing is taken then).
    public func reserve(_ table: KVBlockTable, tokens: Int) throws {
        var needed = blocks(forTokens: tokens) - table.blocks.count
        guard needed > 0 else { return }
        guard needed <= freeBlocks else { throw KVCacheError.outOfBlocks(needed: needed, free: freeBlocks) }
        freeBlocks -= needed
        while needed > 0 {
            var block = table.blocks.last.map { $0 + 1 } ?? blockCount
            if block >= blockCount || !isFree[block] { block = runStart(for: needed) }
            while needed > 0, block < blockCount, isFree[block] {
                isFree[block] = false
                table.blocks.append(block)
                (block, needed) = (block + 1, needed - 1)
            }
        }
    }

    /// Where a sequence that cannot extend its last block starts `count` new blocks: in the longest run of free
    /// blocks (the first of equal ones), at its start when it begins the pool, else past half of the room it leaves
    /// beyond `count` blocks, so that the sequence whose blocks end where the run begins and this one can both grow in
    /// place. At least one block is free.
    private func runStart(for count: Int) -> Int {
        var best = (start: 0, length: 0), start = 0
        for block in 0..<blockCount where isFree[block] {
            if block == 0 || !isFree[block - 1] { start = block }
            if block - start + 1 > best.length { best = (start, block - start + 1) }
        }
        return best.start == 0 ? 0 : best.start + max(0, best.length - count) / 2
    }

    /// Returns every block of `table` to the pool and empties it.
    public func release(_ table: KVBlockTable) {
        for block in table.blocks { isFree[block] = true }
        freeBlocks += table.blocks.count
        table.blocks.removeAll()
        table.count = 0
    }

    /// Writes the keys and values of `count` tokens (rows `rowStride` apart) at positions `start ..< start + count`
    /// of `table` in `layer`; the table must hold those positions (``reserve(_:tokens:)``).
    public func store(keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rowStride: Int, count: Int,
                      at start: Int, of table: KVBlockTable, layer: Int) {
        precondition(start + count <= table.blocks.count * blockSize, "positions beyond the blocks reserved")
        // One key encoded as a row, before it is spread over its tile (a buffer per call: calls may run at once).
        withUnsafeTemporaryAllocation(byteCount: rowBytes, alignment: 16) { encodedKey in
            for t in 0..<count {
                for head in 0..<kvHeads {
                    let (block, row) = slot(table, position: start + t, layer: layer, head: head), column = t * rowStride + head * headDim
                    encode(k + column, into: encodedKey.baseAddress!)
                    PagedKeyValues.storeKey(encodedKey.baseAddress!, type: cacheType, headDim: headDim, row: row, blockSize: blockSize,
                                            rowBytes: rowBytes, inBlock: keys + block)
                    encode(v + column, into: values + block + row * rowBytes)
                }
            }
        }
    }

    /// The keys and values of positions `0 ..< tokens` of `table` in `layer`, each `[tokens, width]` contiguous
    /// (valid until the next call).
    public func gather(_ table: KVBlockTable, tokens: Int, layer: Int) -> (keys: UnsafePointer<Float>, values: UnsafePointer<Float>) {
        gatheredKeys.reserve(tokens * width)
        gatheredValues.reserve(tokens * width)
        for position in 0..<tokens {
            for head in 0..<kvHeads {
                let (block, row) = slot(table, position: position, layer: layer, head: head), column = position * width + head * headDim
                PagedKeyValues.loadKey(type: cacheType, headDim: headDim, row: row, blockSize: blockSize, rowBytes: rowBytes,
                                       inBlock: keys + block, into: gatheredKeys.pointer + column)
                decode(values + block + row * rowBytes, into: gatheredValues.pointer + column)
            }
        }
        return (UnsafePointer(gatheredKeys.pointer), UnsafePointer(gatheredValues.pointer))
    }

    /// Where `layer`'s keys and values lie, for attention that reads them in place
    /// (``ComputeBackend/pagedAttention(q:qStride:keyValues:sequences:into:outStride:logSumExp:shape:)``; valid while
    /// the pool lives).
    public func keyValues(layer: Int) -> PagedKeyValues {
        PagedKeyValues(keys: UnsafeRawPointer(keys), values: UnsafeRawPointer(values), type: cacheType, blockSize: blockSize,
                       blockStride: blockSize * rowBytes, layerOffset: layer * kvHeads * headStride, headStride: headStride,
                       rowBytes: rowBytes)
    }

    /// Bytes from one key/value head's rows to the next head's (every block of the pool).
    private var headStride: Int { blockCount * blockSize * rowBytes }

    /// Byte offset within the storage of the block that holds `head`'s row of `position` in `layer`, and the row.
    private func slot(_ table: KVBlockTable, position: Int, layer: Int, head: Int) -> (block: Int, row: Int) {
        let (block, row) = position.quotientAndRemainder(dividingBy: blockSize)
        return ((layer * kvHeads + head) * headStride + table.blocks[block] * blockSize * rowBytes, row)
    }

    /// Stores one head's row of `headDim` values.
    private func encode(_ row: UnsafePointer<Float>, into slot: UnsafeMutableRawPointer) {
        if cacheType == .f32 { return slot.copyMemory(from: row, byteCount: rowBytes) }
        Quantization.encode(UnsafeBufferPointer(start: row, count: headDim), as: cacheType,
                            into: UnsafeMutableRawBufferPointer(start: slot, count: rowBytes))
    }

    /// Reads one stored head's row back as `headDim` Float32 values.
    private func decode(_ slot: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        if cacheType == .f32 { return UnsafeMutableRawPointer(out).copyMemory(from: slot, byteCount: rowBytes) }
        Quantization.decode(UnsafeRawBufferPointer(start: slot, count: rowBytes), as: cacheType, count: headDim, into: out)
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
    /// A row type the pool does not store.
    case unsupportedType(DType)
    /// A block type whose blocks do not tile one head's row of `headDim` values (each head's row is encoded on its own).
    case headNotWholeBlocks(headDim: Int, type: DType)

    public var description: String {
        switch self {
        case let .poolTooSmall(blocks, blockSize, longest):
            let least = (longest + blockSize - 1) / blockSize
            return "a key/value pool of \(blocks) blocks of \(blockSize) tokens holds \(blocks * blockSize) tokens, fewer than one sequence of \(longest); use at least \(least) blocks or a shorter context"
        case let .outOfBlocks(needed, free):
            return "the key/value pool has \(free) free blocks, \(needed) needed; wait for running sequences to end or give the pool more blocks"
        case let .invalidSize(what, value):
            return "a key/value pool \(what) of \(value) is invalid; it must be at least 1"
        case let .unsupportedType(type):
            return "a key/value cache of \(type.storageName) is not supported; use one of \(KVBlockPool.cacheTypes.map(\.storageName).joined(separator: ", "))"
        case let .headNotWholeBlocks(headDim, type):
            return "a key/value head of \(headDim) values does not fill whole \(type.storageName) blocks of \(type.blockSize) (each head's row is stored on its own); use an F16 or F32 cache (--kv-cache-type f16)"
        }
    }
}
