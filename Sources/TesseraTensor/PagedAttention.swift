import CIntrinsics

/// Where one attention layer's cached keys and values lie in a paged pool (vLLM's paged attention), stored per
/// key/value head: value row `r` of block `b` of head `g` starts `layerOffset + g · headStride + b · blockStride + r · rowBytes`
/// bytes after `values` and holds that head's `headDim` values of `type` (F32, F16 or Q8_0; Q8_0 rows are whole
/// 32-value blocks); the block's keys take the same bytes after `keys`, in tiles of 16 rows stored dimension by
/// dimension (``storeKey(_:type:headDim:row:blockSize:rowBytes:inBlock:)``). Position `p` of a sequence is row
/// `p mod blockSize` of its block `p / blockSize`.
/// With `blockStride = blockSize · rowBytes` (``KVBlockPool``'s layout) a head's rows of consecutive blocks are one
/// contiguous run, which the attention kernel streams.
public struct PagedKeyValues: @unchecked Sendable {
    public let keys: UnsafeRawPointer
    public let values: UnsafeRawPointer
    public let type: DType
    /// Rows per block.
    public let blockSize: Int
    /// Bytes from one block's rows to the next block's (within one head).
    public let blockStride: Int
    /// Bytes from `keys` (and `values`) to this layer's head 0, block 0.
    public let layerOffset: Int
    /// Bytes from one key/value head's rows to the next head's.
    public let headStride: Int
    /// Bytes of one head's row.
    public let rowBytes: Int

    public init(keys: UnsafeRawPointer, values: UnsafeRawPointer, type: DType, blockSize: Int, blockStride: Int,
                layerOffset: Int, headStride: Int, rowBytes: Int) {
        (self.keys, self.values, self.type, self.blockSize) = (keys, values, type, blockSize)
        (self.blockStride, self.layerOffset, self.headStride, self.rowBytes) = (blockStride, layerOffset, headStride, rowBytes)
    }
}

/// One sequence's share of a ``Kernels/pagedAttention(q:qStride:keyValues:sequences:into:outStride:logSumExp:shape:pool:path:)``
/// call: its query rows attend to its own cached positions only.
public struct PagedSequence: Sendable {
    /// Its blocks in position order (they must hold positions `0 ..< start + rows.count`).
    public let blocks: [Int]
    /// Its query rows in `q` and `out`.
    public let rows: Range<Int>
    /// Position of its first query row; query row `i` sees positions `0 ... start + i` (causal).
    public let start: Int

    public init(blocks: [Int], rows: Range<Int>, start: Int) {
        (self.blocks, self.rows, self.start) = (blocks, rows, start)
    }
}

/// Which implementation of ``Kernels/pagedAttention(q:qStride:keyValues:sequences:into:outStride:logSumExp:shape:pool:path:)``
/// runs (paged_attention.h).
public enum PagedAttentionPath: String, Sendable, CaseIterable {
    /// Plain C, for every CPU.
    case portable
    /// AVX-512 (F, BW, VL, DQ) with FMA and F16C; chosen at run time, so one binary runs everywhere.
    case avx512

    /// The fastest path this CPU runs.
    public static let best: PagedAttentionPath = tpa_has_avx512() != 0 ? .avx512 : .portable

    /// Whether this CPU runs the path.
    public var isAvailable: Bool { self == .portable || tpa_has_avx512() != 0 }

    var kernelCode: Int32 { self == .avx512 ? Int32(TPA_PATH_AVX512) : Int32(TPA_PATH_PORTABLE) }
}

extension Kernels {
    /// Causal grouped-query attention of a few query rows per sequence over keys and values read where they lie in
    /// a paged pool. One unit of work is a (sequence, key/value head, chunk of ``PagedAttentionPlan/chunkPositions``
    /// positions): it walks the chunk's blocks once, each block's rows of the head one contiguous run read in address
    /// order (the hardware prefetchers follow it), 16 rows at a time (F16/Q8_0 rows decoded in registers on the
    /// AVX-512 path, into a per-thread scratch on the portable one), and folds each row into every query head of the
    /// group and every query row of the sequence, so a cached row is read from memory once per call. Units are spread
    /// over `pool` by their cost; the chunks of a (sequence, head) are then merged by the log-sum-exp rule.
    ///
    /// Layouts as ``attention(q:qStride:k:v:kvStride:into:outStride:logSumExp:shape:pool:)``: query row `r` at
    /// `q + r·qStride` (`heads × headDim`), output row `r` at `out + r·outStride`, and for a sequence with rows
    /// `first ..< first + n` the log-sum-exp of head `h`, row `i` at `logSumExp[first·heads + h·n + i]`. `shape`
    /// gives the head geometry (heads, kvHeads, headDim, scale, groupSize, groupOffset); lengths come from each
    /// sequence.
    ///
    /// Arithmetic, per (sequence, head, query row), fixed by its own length and the pool's block size only (not by
    /// the other sequences, the thread count or the block numbers): within each chunk, rows 16 at a time from each
    /// block's start, scores `scale · (q · kⱼ)` and the online softmax in fp32 (paged_attention.h states the order);
    /// the chunks merged in position order. So a sequence's outputs are the same alone or with others (batch
    /// invariance), and F16/Q8_0 rows give the bits F32 rows holding their decoded values give.
    public static func pagedAttention(
        q: UnsafePointer<Float>, qStride: Int, keyValues kv: PagedKeyValues, sequences: [PagedSequence],
        into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>,
        shape: AttentionShape, pool: ComputePool = .serial, path: PagedAttentionPath = .best
    ) {
        let plan = PagedAttentionPlan(sequences: sequences, shape: shape, blockSize: kv.blockSize)
        guard !plan.units.isEmpty else { return }
        let states = PagedAttentionScratch.current.states(plan.stateCount)
        let parts = plan.parts(pool.threadCount)
        // Each thread merges the (sequence, head)s whose chunks it ran all of, while their states are in its cache;
        // the caller then merges those split between two threads. Who merges never changes a result's bits.
        pool.run(parts: parts.count) { part in
            let decoded = PagedAttentionScratch.current.decodedRows(2 * Int(TPA_ROWS) * shape.headDim)
            for unit in parts[part] {
                plan.run(plan.units[unit], q: q, qStride: qStride, keyValues: kv, sequences: sequences, states: states,
                         decoded: decoded, path: path)
            }
            plan.finish(parts[part], split: false, states: states, sequences: sequences, into: out, outStride: outStride,
                        logSumExp: logSumExp)
        }
        for part in parts {
            plan.finish(part, split: true, states: states, sequences: sequences, into: out, outStride: outStride, logSumExp: logSumExp)
        }
    }
}

extension PagedKeyValues {
    /// Writes one key as row `row` of a pool block whose bytes start at `block`: `encoded` holds its `headDim` values
    /// as a value row of `type` (`rowBytes` bytes, as `Quantization.encode` writes them). Keys lie in key tiles of 16
    /// rows stored dimension by dimension (paged_attention.h gives the layout), so attention scores 16 positions per
    /// vector register.
    public static func storeKey(_ encoded: UnsafeRawPointer, type: DType, headDim: Int, row: Int, blockSize: Int, rowBytes: Int,
                                inBlock block: UnsafeMutableRawPointer) {
        let tile = tpa_tile_of(block.assumingMemoryBound(to: UInt8.self), Int32(blockSize), rowBytes, Int32(row))
        tpa_key_store(UnsafeMutablePointer(mutating: tile.base), tile.width, tile.lane, type.kernelCode, Int32(headDim),
                      encoded.assumingMemoryBound(to: UInt8.self))
    }

    /// The `headDim` values of the key ``storeKey(_:type:headDim:row:blockSize:rowBytes:inBlock:)`` wrote, as the
    /// floats `Quantization.decode` gives.
    public static func loadKey(type: DType, headDim: Int, row: Int, blockSize: Int, rowBytes: Int, inBlock block: UnsafeRawPointer,
                               into out: UnsafeMutablePointer<Float>) {
        tpa_key_decode(tpa_tile_of(block.assumingMemoryBound(to: UInt8.self), Int32(blockSize), rowBytes, Int32(row)),
                       type.kernelCode, Int32(headDim), out)
    }
}
