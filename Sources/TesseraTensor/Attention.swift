import CBLAS
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The geometry of one attention call.
///
/// Queries are the last `queryLength` positions of a sequence of `keyLength` keys, so query `i` sits
/// at absolute position `keyLength − queryLength + i` (training: equal lengths; decoding with a KV cache:
/// `queryLength = 1`). With grouped-query attention, query head `h` reads key/value head
/// `(groupOffset + h) / groupSize`: `h / (heads / kvHeads)` for a whole model, and for a tensor-parallel
/// rank whose heads start or end inside a group (uneven tp) the same mapping with the rank's offset.
public struct AttentionShape: Sendable, Equatable {
    public var batch: Int
    public var queryLength: Int
    public var keyLength: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var isCausal: Bool
    public var scale: Float
    /// Query heads per key/value head in the whole model (`heads / kvHeads` unless a slice of the heads is given).
    public var groupSize: Int
    /// The place of query head 0 in its key/value head's group, `0..<groupSize` (0 unless the heads are a slice
    /// starting inside a group).
    public var groupOffset: Int

    /// Stores the geometry as given; ``validate()`` checks it (the `Tensor`-level attention does).
    /// - Parameters:
    ///   - groupSize: for a slice of a model's heads, its query heads per key/value head (default `heads / kvHeads`).
    ///   - groupOffset: for a slice starting inside a group, the place of its first query head in that group.
    public init(batch: Int, queryLength: Int, keyLength: Int? = nil, heads: Int, kvHeads: Int, headDim: Int,
                isCausal: Bool = true, scale: Float? = nil, groupSize: Int? = nil, groupOffset: Int = 0) {
        self.batch = batch
        self.queryLength = queryLength
        self.keyLength = keyLength ?? queryLength
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.isCausal = isCausal
        self.scale = scale ?? 1 / Float(headDim).squareRoot()
        self.groupSize = groupSize ?? heads / max(1, kvHeads)
        self.groupOffset = groupOffset
    }

    /// The key/value head query head `h` reads.
    @inline(__always)
    public func keyValueHead(ofQueryHead h: Int) -> Int { (groupOffset + h) / groupSize }

    /// The query heads that read key/value head `kvh`.
    public func queryHeads(ofKeyValueHead kvh: Int) -> Range<Int> {
        max(0, kvh * groupSize - groupOffset)..<min(heads, (kvh + 1) * groupSize - groupOffset)
    }

    /// Number of keys query `i` may attend to.
    @inline(__always)
    public func visibleKeys(forQuery i: Int) -> Int { isCausal ? keyLength - queryLength + i + 1 : keyLength }
}

extension Kernels {
    /// Scaled dot-product attention with a causal mask and grouped-query heads, fused and tiled
    /// (FlashAttention-2's forward, Dao 2023): scores are computed a tile of queries × a tile of keys at a
    /// time with `cblas_sgemm`, folded into a running (max, sum, output) per query with the online softmax,
    /// and the full `[queryLength, keyLength]` matrix is never built.
    ///
    /// Layouts (row = one token of one sequence, `batch × length` rows):
    /// - `q`: row `b·queryLength + i` at `q + row·qStride`, `heads × headDim` values;
    /// - `k`, `v`: row `b·keyLength + j` at `+ row·kvStride`, `kvHeads × headDim` values;
    /// - `out`: like `q` with `outStride`;
    /// - `logSumExp`: `[batch, heads, queryLength]`, `log Σⱼ exp(scale·qᵢ·kⱼ)` over the visible keys,
    ///   written for the backward pass.
    ///
    /// The pool splits (sequence, head, query tile) units; every pool size and every OpenBLAS thread count
    /// gives the same bits (tile products are small enough that OpenBLAS runs them on one thread).
    /// - Precondition: `shape` is valid (``AttentionShape/validate()``).
    public static func attention(
        q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
        into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>,
        shape: AttentionShape, pool: ComputePool = .serial
    ) {
        precondition((try? shape.validate()) != nil, "invalid attention shape \(shape)")
        let tiles = AttentionTiles(shape)
        let units = shape.batch * shape.heads * tiles.queryBlocks
        pool.forEachRange(count: units, alignment: 1, minimumPerPart: 1) { range in
            var scratch = AttentionTiles.ForwardScratch(tiles)
            defer { scratch.deallocate() }
            for unit in range {
                let (bh, block) = unit.quotientAndRemainder(dividingBy: tiles.queryBlocks)
                let (b, h) = bh.quotientAndRemainder(dividingBy: shape.heads)
                tiles.forward(b: b, h: h, block: block, q: q, qStride: qStride, k: k, v: v, kvStride: kvStride,
                              out: out, outStride: outStride, logSumExp: logSumExp, scratch: &scratch)
            }
        }
    }
}

/// Tile sizes and the per-tile work shared by the attention forward and backward passes.
struct AttentionTiles {
    let shape: AttentionShape
    /// Queries per tile: `queryTile · keyTile · headDim ≤ 2¹⁸`, the size below which OpenBLAS 0.3.21 runs a
    /// product on one thread (interface/gemm.c: `m·n·k ≤ 65536 · GEMM_MULTITHREAD_THRESHOLD`), so results
    /// do not depend on its thread count and pool threads do not oversubscribe the cores.
    let queryTile: Int
    /// Keys per tile.
    let keyTile = 64
    let queryBlocks: Int

    init(_ shape: AttentionShape) {
        self.shape = shape
        var queryTile = 128
        while queryTile > 8 && queryTile * 64 * shape.headDim > 1 << 18 { queryTile /= 2 }
        self.queryTile = queryTile
        queryBlocks = (shape.queryLength + queryTile - 1) / queryTile
    }

    /// Absolute position of query 0 (queries are the last `queryLength` of `keyLength` positions).
    var offset: Int { shape.keyLength - shape.queryLength }

    /// The query rows of a block.
    func rows(ofBlock block: Int) -> Range<Int> {
        block * queryTile..<min(shape.queryLength, (block + 1) * queryTile)
    }

    /// Keys visible to at least one query in `rows`: `0..<end`.
    func visibleKeyEnd(rows: Range<Int>) -> Int {
        shape.isCausal ? offset + rows.upperBound : shape.keyLength
    }

    /// How many of the `count` keys starting at `keyStart` query `row` sees (0 or more).
    func visibleCount(row: Int, keyStart: Int, count: Int) -> Int {
        shape.isCausal ? max(0, min(count, offset + row + 1 - keyStart)) : count
    }

    /// `c = alpha·op(a)·op(b) + beta·c` on one tile.
    @inline(__always)
    static func product(
        _ a: UnsafePointer<Float>, _ lda: Int, transposeA: Bool = false, _ b: UnsafePointer<Float>, _ ldb: Int,
        transposeB: Bool = false, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, m: Int, n: Int, k: Int,
        alpha: Float = 1, beta: Float = 0
    ) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Scores, running maxima and sums, and the output accumulator of one query tile.
    struct ForwardScratch {
        let scores: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>
        let maxima: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>

        init(_ tiles: AttentionTiles) {
            scores = .allocate(capacity: tiles.queryTile * tiles.keyTile)
            output = .allocate(capacity: tiles.queryTile * tiles.shape.headDim)
            maxima = .allocate(capacity: tiles.queryTile)
            sums = .allocate(capacity: tiles.queryTile)
        }

        func deallocate() { [scores, output, maxima, sums].forEach { $0.deallocate() } }
    }

    /// One (sequence, head, query tile) of the forward pass.
    func forward(
        b: Int, h: Int, block: Int, q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>,
        v: UnsafePointer<Float>, kvStride: Int, out: UnsafeMutablePointer<Float>, outStride: Int,
        logSumExp: UnsafeMutablePointer<Float>, scratch: inout ForwardScratch
    ) {
        let d = shape.headDim, kvh = shape.keyValueHead(ofQueryHead: h)
        let rows = self.rows(ofBlock: block), count = rows.count
        let qBase = q + (b * shape.queryLength + rows.lowerBound) * qStride + h * d
        scratch.maxima.update(repeating: -.infinity, count: count)
        scratch.sums.update(repeating: 0, count: count)
        scratch.output.update(repeating: 0, count: count * d)
        for keyStart in stride(from: 0, to: visibleKeyEnd(rows: rows), by: keyTile) {
            let keys = min(keyTile, visibleKeyEnd(rows: rows) - keyStart)
            let kBase = k + (b * shape.keyLength + keyStart) * kvStride + kvh * d
            let vBase = v + (b * shape.keyLength + keyStart) * kvStride + kvh * d
            Self.product(qBase, qStride, kBase, kvStride, transposeB: true, scratch.scores, keyTile,
                         m: count, n: keys, k: d, alpha: shape.scale)
            for r in 0..<count {
                let row = scratch.scores + r * keyTile
                let visible = visibleCount(row: rows.lowerBound + r, keyStart: keyStart, count: keys)
                (row + visible).update(repeating: 0, count: keys - visible)
                guard visible > 0 else { continue }
                let previous = scratch.maxima[r]
                let maximum = max(previous, VectorMath.maximum(row, count: visible))
                let sum = Kernels.shiftedExponentialSum(row, count: visible, shift: maximum, storingInto: row)
                let rescale = expf(previous - maximum)
                scratch.sums[r] = scratch.sums[r] * rescale + sum
                scratch.maxima[r] = maximum
                if rescale != 1 {
                    let o = scratch.output + r * d
                    VectorMath.map(o, into: o, count: d, Scaled(alpha: rescale))
                }
            }
            Self.product(scratch.scores, keyTile, vBase, kvStride, scratch.output, d, m: count, n: d, k: keys, beta: 1)
        }
        for r in 0..<count {
            let destination = out + (b * shape.queryLength + rows.lowerBound + r) * outStride + h * d
            VectorMath.map(scratch.output + r * d, into: destination, count: d, Scaled(alpha: 1 / scratch.sums[r]))
            logSumExp[(b * shape.heads + h) * shape.queryLength + rows.lowerBound + r] = scratch.maxima[r] + logf(scratch.sums[r])
        }
    }
}
