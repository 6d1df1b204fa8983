#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Where one attention layer's cached keys and values lie in a paged pool (vLLM's paged attention): row `r` of
/// block `b` starts `b · blockStride + layerOffset + r · rowBytes` bytes after `keys` (and after `values`), and holds
/// `kvHeads · headDim` values of `type` (F32, F16 or Q8_0), key/value head `g`'s `headDim` values from element
/// `g · headDim`. Position `p` of a sequence is row `p mod blockSize` of its block `p / blockSize`.
public struct PagedKeyValues: @unchecked Sendable {
    public let keys: UnsafeRawPointer
    public let values: UnsafeRawPointer
    public let type: DType
    /// Rows per block.
    public let blockSize: Int
    /// Bytes from one block to the next.
    public let blockStride: Int
    /// Bytes from a block's start to this layer's first row.
    public let layerOffset: Int
    /// Bytes of one row.
    public let rowBytes: Int

    public init(keys: UnsafeRawPointer, values: UnsafeRawPointer, type: DType, blockSize: Int, blockStride: Int,
                layerOffset: Int, rowBytes: Int) {
        (self.keys, self.values, self.type, self.blockSize) = (keys, values, type, blockSize)
        (self.blockStride, self.layerOffset, self.rowBytes) = (blockStride, layerOffset, rowBytes)
    }
}

/// One sequence's share of a ``Kernels/pagedAttention(q:qStride:keyValues:sequences:into:outStride:logSumExp:shape:pool:)``
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

extension Kernels {
    /// Causal grouped-query attention of a few query rows per sequence over keys and values read where they lie in
    /// a paged pool: each sequence's block table is walked block by block, F32 rows are read in place and F16/Q8_0
    /// rows decoded a head's slice at a time into a block-sized scratch (never a whole sequence).
    ///
    /// Layouts as ``attention(q:qStride:k:v:kvStride:into:outStride:logSumExp:shape:pool:)``: query row `r` at
    /// `q + r·qStride` (`heads × headDim`), output row `r` at `out + r·outStride`, and for a sequence with rows
    /// `first ..< first + n` the log-sum-exp of head `h`, row `i` at `logSumExp[first·heads + h·n + i]`. `shape`
    /// gives the head geometry (heads, kvHeads, headDim, scale, groupSize, groupOffset); lengths come from each
    /// sequence.
    ///
    /// Arithmetic, per (sequence, head, query row) and independent of every other sequence, of the pool's size and
    /// of the block numbers: scores `scale · (q · kⱼ)` (16-lane fused products summed by a fixed pairwise tree) for every
    /// visible `j`, their maximum, `pⱼ = e^(score − max)` and their sum as a softmax row sums them, then
    /// `Σⱼ pⱼ·vⱼ` accumulated in position order and scaled by `1 / sum`. So a sequence's outputs are the same alone
    /// or with others (batch invariance), and F16/Q8_0 rows give the bits F32 rows holding their decoded values give.
    public static func pagedAttention(
        q: UnsafePointer<Float>, qStride: Int, keyValues kv: PagedKeyValues, sequences: [PagedSequence],
        into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>,
        shape: AttentionShape, pool: ComputePool = .serial
    ) {
        let units = sequences.count * shape.heads
        let longest = sequences.map { $0.start + $0.rows.count }.max() ?? 0
        let mostRows = sequences.map(\.rows.count).max() ?? 0
        pool.forEachRange(count: units, alignment: 1, minimumPerPart: 1) { range in
            let scratch = PagedAttentionScratch(shape: shape, keyValues: kv, rows: mostRows, keys: longest)
            defer { scratch.deallocate() }
            for unit in range {
                let (s, h) = unit.quotientAndRemainder(dividingBy: shape.heads)
                scratch.attend(sequences[s], head: h, q: q, qStride: qStride, out: out, outStride: outStride,
                               logSumExp: logSumExp)
            }
        }
    }
}

/// One thread's scores, output accumulators and decoded rows in ``Kernels/pagedAttention(q:qStride:keyValues:sequences:into:outStride:logSumExp:shape:pool:)``.
struct PagedAttentionScratch {
    let shape: AttentionShape, kv: PagedKeyValues
    /// `[rows, keys]`: each query row's scores, then its exponentials.
    let scores: UnsafeMutablePointer<Float>
    /// `[rows, headDim]`.
    let output: UnsafeMutablePointer<Float>
    /// `[rows]`: each query row's largest score and sum of exponentials.
    let maxima: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>
    /// 16 rows' partial products in ``scaledDots(_:_:stride:count:)``.
    let partials: UnsafeMutablePointer<Vector>
    /// One block's decoded rows (F16/Q8_0): a head's slice of each, or whole rows when a slice is not whole blocks.
    let decoded: UnsafeMutablePointer<Float>
    let keyStride: Int

    init(shape: AttentionShape, keyValues kv: PagedKeyValues, rows: Int, keys: Int) {
        (self.shape, self.kv) = (shape, kv)
        keyStride = keys
        scores = .allocate(capacity: max(1, rows * keys))
        output = .allocate(capacity: max(1, rows * shape.headDim))
        maxima = .allocate(capacity: max(1, rows))
        sums = .allocate(capacity: max(1, rows))
        partials = .allocate(capacity: VectorMath.width)
        decoded = .allocate(capacity: kv.type == .f32 ? 1 : kv.blockSize * shape.kvHeads * shape.headDim)
    }

    func deallocate() {
        [scores, output, maxima, sums, decoded].forEach { $0.deallocate() }
        partials.deallocate()
    }

    /// Head `h` of every query row of `sequence`.
    func attend(_ sequence: PagedSequence, head h: Int, q: UnsafePointer<Float>, qStride: Int,
                out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>) {
        let d = shape.headDim, n = sequence.rows.count, kvh = shape.keyValueHead(ofQueryHead: h)
        let query = { (i: Int) in q + (sequence.rows.lowerBound + i) * qStride + h * d }
        forEachBlock(of: sequence, in: kv.keys, kvHead: kvh) { first, rows, stride in
            for i in 0..<n {
                let row = scores + i * keyStride + first
                let count = visible(sequence, query: i, from: first, count: rows.count)
                for group in Swift.stride(from: 0, to: count, by: VectorMath.width) {
                    let lanes = min(VectorMath.width, count - group)
                    VectorMath.store(scaledDots(query(i), rows.base + group * stride, stride: stride, count: lanes), row + group, count: lanes)
                }
            }
        }
        for i in 0..<n {
            let row = scores + i * keyStride, count = sequence.start + i + 1
            maxima[i] = VectorMath.maximum(row, count: count)
            sums[i] = Kernels.shiftedExponentialSum(row, count: count, shift: maxima[i], storingInto: row)
        }
        output.update(repeating: 0, count: n * d)
        forEachBlock(of: sequence, in: kv.values, kvHead: kvh) { first, rows, stride in
            for i in 0..<n {
                accumulate(scores + i * keyStride + first, rows.base, stride: stride,
                           count: visible(sequence, query: i, from: first, count: rows.count), into: output + i * d)
            }
        }
        for i in 0..<n {
            let destination = out + (sequence.rows.lowerBound + i) * outStride + h * d
            VectorMath.map(output + i * d, into: destination, count: d, Scaled(alpha: 1 / sums[i]))
            logSumExp[sequence.rows.lowerBound * shape.heads + h * n + i] = maxima[i] + logf(sums[i])
        }
    }

    /// `scale · (q · kᵣ)` of `count` (≤ 16) rows `kᵣ` `stride` apart, lane `r` for row `r`. Each row's 16-lane
    /// products (`headDim` in 16-lane chunks, fused multiply-adds in order) are summed by the same pairwise tree, adjacent
    /// lanes first; the 16 rows' trees run interleaved, so the sums land one per lane without a reduction per row.
    @inline(__always)
    private func scaledDots(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, stride: Int, count: Int) -> Vector {
        let d = shape.headDim
        for r in 0..<VectorMath.width {
            var sum = Vector.zero
            if r < count {
                for c in Swift.stride(from: 0, to: d, by: VectorMath.width) {
                    let lanes = min(VectorMath.width, d - c)
                    sum = sum.addingProduct(VectorMath.load(q + c, count: lanes), VectorMath.load(k + r * stride + c, count: lanes))
                }
            }
            partials[r] = sum
        }
        var n = VectorMath.width
        while n > 1 {
            n /= 2
            for j in 0..<n {
                let a = partials[2 * j], b = partials[2 * j + 1]
                partials[j] = Vector(lowHalf: a.evenHalf + a.oddHalf, highHalf: b.evenHalf + b.oddHalf)
            }
        }
        return partials[0] * shape.scale
    }

    /// `o += Σᵣ p[r]·vᵣ` over `count` rows `vᵣ` `stride` apart, in row order, 16 lanes of `o` at a time.
    @inline(__always)
    private func accumulate(_ p: UnsafePointer<Float>, _ v: UnsafePointer<Float>, stride: Int, count: Int,
                            into o: UnsafeMutablePointer<Float>) {
        for c in Swift.stride(from: 0, to: shape.headDim, by: VectorMath.width) {
            let lanes = min(VectorMath.width, shape.headDim - c)
            var sum = VectorMath.load(o + c, count: lanes)
            for r in 0..<count {
                sum = sum.addingProduct(Vector(repeating: p[r]), VectorMath.load(v + r * stride + c, count: lanes))
            }
            VectorMath.store(sum, o + c, count: lanes)
        }
    }

    /// How many of the `count` rows from position `first` query `i` of `sequence` sees.
    private func visible(_ sequence: PagedSequence, query i: Int, from first: Int, count: Int) -> Int {
        max(0, min(count, sequence.start + i + 1 - first))
    }

    /// Calls `body(first position, rows, row stride in floats)` for each block of positions `sequence` holds, its
    /// rows of key/value head `kvh` as Float32 (in place for F32, decoded into ``decoded`` otherwise).
    private func forEachBlock(of sequence: PagedSequence, in base: UnsafeRawPointer, kvHead kvh: Int,
                              _ body: (Int, (base: UnsafePointer<Float>, count: Int), Int) -> Void) {
        let total = sequence.start + sequence.rows.count, d = shape.headDim, width = shape.kvHeads * d
        var first = 0
        while first < total {
            let count = min(kv.blockSize, total - first)
            let start = base + sequence.blocks[first / kv.blockSize] * kv.blockStride + kv.layerOffset
            if kv.type == .f32 {
                body(first, (start.assumingMemoryBound(to: Float.self) + kvh * d, count), kv.rowBytes / 4)
            } else if let offset = try? kv.type.byteCount(forElements: kvh * d), let bytes = try? kv.type.byteCount(forElements: d) {
                for r in 0..<count {
                    Quantization.decode(UnsafeRawBufferPointer(start: start + r * kv.rowBytes + offset, count: bytes), as: kv.type,
                                        count: d, into: decoded + r * d)
                }
                body(first, (UnsafePointer(decoded), count), d)
            } else {
                Quantization.decode(UnsafeRawBufferPointer(start: start, count: count * kv.rowBytes), as: kv.type,
                                    count: count * width, into: decoded)
                body(first, (UnsafePointer(decoded) + kvh * d, count), width)
            }
            first += count
        }
    }
}
