import Foundation
import Testing
import TesseraParallel
import TesseraTensor

/// Decoding attention that reads key/value blocks where they lie (`Kernels.pagedAttention` over a `KVBlockPool`):
/// equal to a float64 reference and to the tiled kernel on gathered rows for every cache type and kernel path, across
/// block boundaries, chunk boundaries (sequences longer than `PagedAttentionPlan.chunkPositions`) and uneven head
/// slices; the same bits alone, in a batch and on any pool size; F16/Q8_0 rows the bits of F32 rows holding their
/// decoded values; and a wrong block table, layer, head offset or causal mask is caught.
@Suite struct PagedAttentionTests {
    /// Head geometries: a slice of 5 query heads starting inside a group of 3 (uneven tp) with 32-wide heads, 16-wide
    /// heads, SmolLM2's geometry (9 query heads over 3 key/value heads of 64), and 24-wide heads (a partial 16-lane
    /// tail). Q8_0 pools store whole 32-value blocks per head, so only the 32- and 64-wide heads run on Q8_0.
    static let shapes = [AttentionShape(batch: 1, queryLength: 1, heads: 5, kvHeads: 2, headDim: 32, groupSize: 3, groupOffset: 1),
                         AttentionShape(batch: 1, queryLength: 1, heads: 4, kvHeads: 2, headDim: 16),
                         AttentionShape(batch: 1, queryLength: 1, heads: 9, kvHeads: 3, headDim: 64),
                         AttentionShape(batch: 1, queryLength: 1, heads: 8, kvHeads: 4, headDim: 24)]
    /// Sequences (cached positions before the query rows, query rows) over blocks of 4: 7, 3, 13 and 1 keys.
    static let short = (lengths: [(6, 1), (0, 3), (10, 3), (0, 1)], blockSize: 4)
    /// Over blocks of 16, sequences of 300, 143, 5 and 129 keys: three, two, one and two chunks of 128 positions.
    static let long = (lengths: [(299, 1), (140, 3), (0, 5), (127, 2)], blockSize: 16)
    static let paths = PagedAttentionPath.allCases.filter(\.isAvailable)

    /// Sequences of `lengths` (``short`` by default) with another sequence's blocks between theirs; layer 1 holds their
    /// rows and layer 0 other numbers.
    struct Scenario {
        let shape: AttentionShape, pool: KVBlockPool, tables: [KVBlockTable], sequences: [PagedSequence], q: [Float]
        var rows: Int { sequences.last!.rows.upperBound }

        init(_ shape: AttentionShape, type: DType, seed: UInt64 = 1,
             sequences lengths: [(Int, Int)] = PagedAttentionTests.short.lengths, blockSize: Int = PagedAttentionTests.short.blockSize) throws {
            let width = shape.kvHeads * shape.headDim
            pool = try KVBlockPool(blocks: 64, blockSize: blockSize, layers: 2, kvHeads: shape.kvHeads, headDim: shape.headDim,
                                   longestSequence: 16, cacheType: type)
            let spacer = KVBlockTable()
            var tables: [KVBlockTable] = [], sequences: [PagedSequence] = [], row = 0
            for (s, (start, count)) in lengths.enumerated() {
                let table = KVBlockTable()
                try pool.reserve(spacer, tokens: 4 * (s + 1))
                try pool.reserve(table, tokens: start + count)
                let random = DeterministicRandom(seed: seed, stream: "paged \(s)")
                for layer in 0..<2 {
                    let keys = (0..<(start + count) * width).map { random.normal(at: $0 + 100_000 * layer) }
                    let values = (0..<(start + count) * width).map { random.normal(at: $0 + 50_000 + 100_000 * layer) }
                    pool.store(keys: keys, values: values, rowStride: width, count: start + count, at: 0, of: table, layer: layer)
                }
                tables.append(table)
                sequences.append(PagedSequence(blocks: table.blocks, rows: row..<row + count, start: start))
                row += count
            }
            (self.shape, self.tables, self.sequences) = (shape, tables, sequences)
            let random = DeterministicRandom(seed: seed, stream: "queries")
            q = (0..<row * shape.heads * shape.headDim).map { random.normal(at: $0) }
        }

        /// The kernel's output rows `[rows, heads · headDim]` with `sequences` (default: all) on `threads` threads, reading
        /// `keyValues` (default: the pool's `layer`), over an output filled with `fill` first.
        func paged(_ sequences: [PagedSequence]? = nil, threads: Int = 2, layer: Int = 1, keyValues: PagedKeyValues? = nil,
                   path: PagedAttentionPath = .best, fill: Float = 0) -> [Float] {
            let columns = shape.heads * shape.headDim
            var out = [Float](repeating: fill, count: rows * columns), lse = [Float](repeating: 0, count: rows * shape.heads)
            Kernels.pagedAttention(q: q, qStride: columns, keyValues: keyValues ?? pool.keyValues(layer: layer), sequences: sequences ?? self.sequences,
                                   into: &out, outStride: columns, logSumExp: &lse, shape: shape, pool: ComputePool(threads: threads),
                                   path: path)
            return out
        }

        /// Float64 attention of sequence `s` on the rows `gather` returns, and the tiled kernel's output on them.
        func references(_ s: Int) -> (exact: [Double], tiled: [Float]) {
            let sequence = sequences[s], n = sequence.rows.count, keys = sequence.start + n
            let d = shape.headDim, columns = shape.heads * d, kvWidth = shape.kvHeads * d
            let (k, v) = pool.gather(tables[s], tokens: keys, layer: 1)
            var exact = [Double](repeating: 0, count: n * columns)
            for i in 0..<n {
                for h in 0..<shape.heads {
                    let qRow = (sequence.rows.lowerBound + i) * columns + h * d, kvh = shape.keyValueHead(ofQueryHead: h)
                    let scores = (0...sequence.start + i).map { j in
                        Double(shape.scale) * (0..<d).reduce(0.0) { $0 + Double(q[qRow + $1]) * Double(k[j * kvWidth + kvh * d + $1]) }
                    }
                    let top = scores.max()!, weights = scores.map { Foundation.exp($0 - top) }, sum = weights.reduce(0, +)
                    for c in 0..<d {
                        exact[i * columns + h * d + c] = weights.indices.reduce(0.0) { $0 + weights[$1] * Double(v[$1 * kvWidth + kvh * d + c]) } / sum
                    }
                }
            }
            var tiled = [Float](repeating: 0, count: n * columns), lse = [Float](repeating: 0, count: n * shape.heads)
            var geometry = shape
            (geometry.queryLength, geometry.keyLength) = (n, keys)
            q.withUnsafeBufferPointer { q in
                Kernels.attention(q: q.baseAddress! + sequence.rows.lowerBound * columns, qStride: columns, k: k, v: v, kvStride: kvWidth,
                                  into: &tiled, outStride: columns, logSumExp: &lse, shape: geometry)
            }
            return (exact, tiled)
        }

        /// Largest distance of `out`'s rows of sequence `s` from the float64 reference.
        func error(_ out: [Float], sequence s: Int) -> Double {
            let columns = shape.heads * shape.headDim, first = sequences[s].rows.lowerBound * columns
            return references(s).exact.enumerated().map { abs(Double(out[first + $0]) - $1) }.max()!
        }
    }

    /// The shapes whose rows a pool of `type` stores (Q8_0 needs each head's row to be whole 32-value blocks).
    static func shapes(for type: DType) -> [AttentionShape] {
        shapes.filter { (try? type.byteCount(forElements: $0.headDim)) != nil }
    }

    /// Every shape on the short sequences and SmolLM2's on the long ones, on every path this CPU runs.
    static func scenarios(_ type: DType) throws -> [Scenario] {
        try shapes(for: type).map { try Scenario($0, type: type) }
            + [Scenario(shapes[2], type: type, sequences: long.lengths, blockSize: long.blockSize)]
    }

    @Test(arguments: KVBlockPool.cacheTypes)
    func inPlaceAttentionMatchesAFloat64ReferenceAndTheGatherPath(type: DType) throws {
        for scenario in try Self.scenarios(type) {
            let shape = scenario.shape, columns = shape.heads * shape.headDim
            for path in Self.paths {
                let out = scenario.paged(path: path)
                for s in scenario.sequences.indices {
                    let label = "\(type) \(path) heads \(shape.heads)x\(shape.headDim) sequence \(s) of \(scenario.sequences[s].start + scenario.sequences[s].rows.count)"
                    #expect(scenario.error(out, sequence: s) < 1e-5, "\(label)")
                    let tiled = scenario.references(s).tiled, first = scenario.sequences[s].rows.lowerBound * columns
                    #expect(zip(tiled, out[first...]).allSatisfy { abs($0 - $1) < 1e-5 }, "\(label) against the gather path")
                }
            }
        }
    }

    @Test(arguments: KVBlockPool.cacheTypes)
    func aSequenceGetsTheSameBitsAloneInABatchAndOnAnyPool(type: DType) throws {
        for scenario in [try Scenario(Self.shapes[0], type: type),
                         try Scenario(Self.shapes[2], type: type, sequences: Self.long.lengths, blockSize: Self.long.blockSize)] {
            let batched = scenario.paged(), columns = scenario.shape.heads * scenario.shape.headDim
            #expect(scenario.paged(threads: 1) == batched)
            #expect(scenario.paged(threads: 3) == batched)
            for (s, sequence) in scenario.sequences.enumerated() {
                let alone = scenario.paged([sequence], threads: 1 + s % 2), span = sequence.rows.lowerBound * columns..<sequence.rows.upperBound * columns
                #expect(alone[span] == batched[span], "\(type) sequence \(s)")
            }
        }
    }

    /// Each thread merges the chunks of the (sequence, head)s it ran every chunk of, the caller those whose chunks two
    /// threads ran: over outputs filled with NaN, every pool size from 1 to 5 writes every value, to one thread's bits
    /// (the long sequences' 2 or 3 chunks a head put (sequence, head)s across thread boundaries). An output with one
    /// (sequence, head) left unmerged is caught by the same check.
    @Test func everySequenceAndHeadIsMergedOnceWhicheverThreadsRanItsChunks() throws {
        let scenario = try Scenario(Self.shapes[2], type: .f16, sequences: Self.long.lengths, blockSize: Self.long.blockSize)
        let one = scenario.paged(threads: 1, fill: .nan)
        #expect(!one.contains { $0.isNaN })
        for threads in 2...5 {
            #expect(scenario.paged(threads: threads, fill: .nan) == one, "\(threads) threads")
        }
        var unmerged = one
        let span = scenario.sequences[1].rows.lowerBound * scenario.shape.heads * scenario.shape.headDim
        for i in span..<span + scenario.shape.headDim { unmerged[i] = .nan }
        #expect(unmerged != one)
    }

    /// F16 and Q8_0 rows decoded on the fly give the bits F32 rows holding the decoded values give.
    @Test(arguments: [DType.f16, .q8_0])
    func compressedRowsGiveTheBitsOfTheirDecodedValues(type: DType) throws {
        for shape in Self.shapes(for: type) {
            let compressed = try Scenario(shape, type: type), exact = try Scenario(shape, type: .f32)
            let width = shape.kvHeads * shape.headDim
            for (s, table) in compressed.tables.enumerated() {
                let tokens = compressed.sequences[s].start + compressed.sequences[s].rows.count
                let (k, v) = compressed.pool.gather(table, tokens: tokens, layer: 1)
                exact.pool.store(keys: k, values: v, rowStride: width, count: tokens, at: 0, of: exact.tables[s], layer: 1)
            }
            for path in Self.paths {
                #expect(compressed.paged(path: path) == exact.paged(path: path), "\(type) \(path) head width \(shape.headDim)")
            }
        }
    }

    /// Non-vacuity: a table whose second block is another sequence's, the other layer, a head offset one row off (so
    /// key/value head 1 reads its rows one position late), or a causal mask one position too wide is far from the
    /// reference.
    /// (Swapping two whole blocks of one sequence is not caught, rightly: attention is the same over any order of keys.)
    @Test func aWrongBlockTableLayerOrMaskIsCaught() throws {
        let scenario = try Scenario(Self.shapes[0], type: .f32), s = 2
        var wrong = scenario.sequences
        var blocks = wrong[s].blocks
        blocks[1] = wrong[0].blocks[0]
        wrong[s] = PagedSequence(blocks: blocks, rows: wrong[s].rows, start: wrong[s].start)
        #expect(scenario.error(scenario.paged(wrong), sequence: s) > 1e-3)
        #expect(scenario.error(scenario.paged(layer: 0), sequence: s) > 1e-3)
        let kv = scenario.pool.keyValues(layer: 1)
        let shifted = PagedKeyValues(keys: kv.keys, values: kv.values, type: kv.type, blockSize: kv.blockSize, blockStride: kv.blockStride,
                                     layerOffset: kv.layerOffset, headStride: kv.headStride + kv.rowBytes, rowBytes: kv.rowBytes)
        #expect(scenario.error(scenario.paged(keyValues: shifted), sequence: s) > 1e-3)
        let long = try Scenario(Self.shapes[2], type: .f32, sequences: Self.long.lengths, blockSize: Self.long.blockSize)
        let widened = long.sequences.map { PagedSequence(blocks: $0.blocks, rows: $0.rows, start: $0.start + 1) }
        #expect(long.error(long.paged(widened), sequence: 2) > 1e-3)
        #expect(long.error(long.paged(), sequence: 2) < 1e-5)
        #expect(scenario.error(scenario.paged(), sequence: s) < 1e-5)
    }

    /// Non-vacuity for Q8_0 rows decoded in registers: SmolLM2's 64-wide heads hold two 32-value blocks per row, and a
    /// kernel that scaled a row's second block by its first block's scale gives what the kernel gives on rows whose
    /// second block carries the first one's scale: far from the reference.
    @Test func aQ8_0BlockDecodedWithItsNeighboursScaleIsCaught() throws {
        let scenario = try Scenario(Self.shapes[2], type: .q8_0), s = 2
        let sequence = scenario.sequences[s], columns = scenario.shape.heads * scenario.shape.headDim
        let exact = scenario.references(s).exact, kv = scenario.pool.keyValues(layer: 1)
        for head in 0..<scenario.shape.kvHeads {
            for block in sequence.blocks {
                let offset = kv.layerOffset + head * kv.headStride + block * kv.blockStride
                for row in 0..<kv.blockSize {
                    let bytes = UnsafeMutableRawPointer(mutating: kv.values) + offset + row * kv.rowBytes
                    (bytes + 34).copyMemory(from: bytes, byteCount: 2)
                }
                // Blocks of 4 rows are one key tile of width 4: the scales of 32-value block s of row r lie at
                // 64 · 4 + (s · 4 + r) · 2 bytes.
                let scales = UnsafeMutableRawPointer(mutating: kv.keys) + offset + 64 * kv.blockSize
                (scales + 2 * kv.blockSize).copyMemory(from: scales, byteCount: 2 * kv.blockSize)
            }
        }
        for path in Self.paths {
            let out = scenario.paged(path: path)[sequence.rows.lowerBound * columns..<sequence.rows.upperBound * columns]
            #expect(zip(out, exact).map { abs(Double($0) - $1) }.max()! > 1e-3, "\(path)")
        }
    }
}
