import TesseraNN
import TesseraTensor

/// This rank's queries against one rank's key/value block, the unit ring and all-gather attention repeat.
///
/// Query part `a` (a chunk of the zig-zag split) against key part `c`: chunks entirely in the future (`c > a`)
/// are skipped, the diagonal block (`c == a`) is causal, earlier chunks are seen whole. The forward pass folds
/// each block's output into the running output with the log-sum-exp rule; the backward pass, given the final
/// output and log-sum-exp, adds each block's query gradient to `dqkv` and its key/value gradient to the block's,
/// both in place (the attention kernel's backward accumulates), so no scratch grows with the chunks.
///
/// Layouts: `qkv`, `dqkv` `[rows, width]`; `out`, `dOut` `[rows, outputWidth]`; `logSumExp` this rank's
/// `[batch, part, heads, chunk length]`; key/value blocks `[rows of source, keyValueWidth]`.
struct ContextAttentionBlocks {
    let geometry: ContextAttentionGeometry
    let backend: any ComputeBackend
    let faults: ContextParallelFaults
    let scratch: ContextAttentionScratch

    /// One (query part, key part) block of a sequence: the rows it covers and its attention shape.
    private struct Block {
        let queryRow: Int, keyRow: Int, shape: AttentionShape
        var isDiagonal: Bool
    }

    /// The blocks of sequence `b` between this rank's queries and `source`'s keys, diagonal blocks first (so
    /// they write the output that later blocks are merged into).
    private func blocks(source: Int, sequence b: Int) -> [Block] {
        let shard = geometry.shard, rank = shard.rank
        var result: [Block] = []
        for (queryPart, a) in shard.chunks(ofRank: rank).enumerated() where !shard.chunk(a).isEmpty {
            for (keyPart, c) in shard.chunks(ofRank: source).enumerated() where c <= a && !shard.chunk(c).isEmpty {
                let shape = AttentionShape(batch: 1, queryLength: shard.chunk(a).count, keyLength: shard.chunk(c).count,
                                           heads: geometry.heads, kvHeads: geometry.kvHeads, headDim: geometry.headDim,
                                           isCausal: c == a && !faults.contains(.unmaskedDiagonal), groupSize: geometry.groupSize,
                                           groupOffset: geometry.groupOffset)
                result.append(Block(queryRow: b * shard.localLength + shard.localStart(part: queryPart, rank: rank),
                                    keyRow: b * shard.localLength(ofRank: source) + shard.localStart(part: keyPart, rank: source),
                                    shape: shape, isDiagonal: c == a))
            }
        }
        return result.filter(\.isDiagonal) + result.filter { !$0.isDiagonal }
    }

    /// Rows per call of an off-diagonal block's forward pass and keys in a step's first key/value gradient tile:
    /// fixed, so the ring's scratch does not grow with the sequence (multiples of the kernels' tiles,
    /// ``AttentionTiles``, so each row and key is computed as in one call over the whole block).
    static let queryTile = 256, keyTile = 256

    /// Folds the attention of this rank's queries over `source`'s keys into `out` and `logSumExp`. The caller
    /// folds its own block first: its diagonal blocks write every row. An off-diagonal block is computed
    /// ``queryTile`` queries at a time, each tile's partial output merged head by head (the log-sum-exp of a
    /// block is `[heads, queries]`, so a tile's rows of one head are contiguous).
    func forward(qkv: UnsafePointer<Float>, keysValues: UnsafePointer<Float>, source: Int,
                 out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>) {
        let g = geometry, kvw = g.keyValueWidth, ow = g.outputWidth
        for b in 0..<g.batch {
            for block in blocks(source: source, sequence: b) {
                let q = qkv + block.queryRow * g.width, k = keysValues + block.keyRow * kvw
                let lse = logSumExp + block.queryRow * g.heads, rows = block.shape.queryLength
                guard !block.isDiagonal else {
                    backend.attention(q: q, qStride: g.width, k: k, v: k + g.kvHeads * g.headDim, kvStride: kvw,
                                      into: out + block.queryRow * ow, outStride: ow, logSumExp: lse, shape: block.shape)
                    continue
                }
                scratch.partial.reserve(Self.queryTile * ow)
                scratch.partialLogSumExp.reserve(Self.queryTile * g.heads)
                for start in stride(from: 0, to: rows, by: Self.queryTile) {
                    var shape = block.shape
                    shape.queryLength = min(Self.queryTile, rows - start)
                    backend.attention(q: q + start * g.width, qStride: g.width, k: k, v: k + g.kvHeads * g.headDim, kvStride: kvw,
                                      into: scratch.partial.pointer, outStride: ow, logSumExp: scratch.partialLogSumExp.pointer, shape: shape)
                    for h in 0..<g.heads {
                        backend.mergeAttention(scratch.partial.pointer + h * g.headDim, partialStride: ow,
                                               partialLogSumExp: scratch.partialLogSumExp.pointer + h * shape.queryLength,
                                               into: out + (block.queryRow + start) * ow + h * g.headDim, outStride: ow,
                                               logSumExp: lse + h * rows + start, rows: shape.queryLength, heads: 1, headDim: g.headDim)
                    }
                }
            }
        }
    }

    /// Adds the gradients of the blocks between this rank's queries and `source`'s keys: query gradients straight
    /// into the query columns of `dqkv`, key/value gradients straight into `dKeysValues` (laid out like `keysValues`).
    /// - Parameter beforeAccumulating: `nil` when `dKeysValues` may be written at once. Otherwise it runs once,
    ///   before the first key/value gradient is added to `dKeysValues`: the ring waits there for `dKeysValues` to
    ///   arrive. Until then the first block's first ``keyTile`` keys are computed into a tile of scratch (the
    ///   transfer overlaps that kernel), so the ring needs no block-sized gradient scratch. Only off-diagonal blocks
    ///   are cut into key tiles (a causal block's key prefix would need its queries cut too).
    func backward(dOut: UnsafePointer<Float>, qkv: UnsafePointer<Float>, keysValues: UnsafePointer<Float>, source: Int,
                  out: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>, dqkv: UnsafeMutablePointer<Float>,
                  dKeysValues: UnsafeMutablePointer<Float>, beforeAccumulating: (() throws -> Void)? = nil) throws {
        let g = geometry, kvw = g.keyValueWidth, ow = g.outputWidth
        /// Adds the gradients of `block`'s keys `keys` (`dkv` is the gradient row of the first of them).
        func accumulate(_ block: Block, keys: Range<Int>, into dkv: UnsafeMutablePointer<Float>) {
            var shape = block.shape
            shape.keyLength = keys.count
            let k = keysValues + (block.keyRow + keys.lowerBound) * kvw
            backend.attentionBackward(
                dOut: dOut + block.queryRow * ow, q: qkv + block.queryRow * g.width, qStride: g.width,
                k: k, v: k + g.kvHeads * g.headDim, kvStride: kvw, out: out + block.queryRow * ow, outStride: ow,
                logSumExp: logSumExp + block.queryRow * g.heads, dq: dqkv + block.queryRow * g.width, dk: dkv,
                dv: dkv + g.kvHeads * g.headDim, shape: shape, accumulating: true)
        }
        var waiting = beforeAccumulating
        for b in 0..<g.batch {
            for block in blocks(source: source, sequence: b) {
                var first = 0
                if let wait = waiting {
                    precondition(!block.isDiagonal, "a diagonal block cannot be cut into key tiles")
                    first = min(Self.keyTile, block.shape.keyLength)
                    scratch.blockGradient.reserve(first * kvw)
                    scratch.blockGradient.zero()
                    accumulate(block, keys: 0..<first, into: scratch.blockGradient.pointer)
                    waiting = nil
                    try wait()
                    backend.axpy(scratch.blockGradient.pointer, accumulatingInto: dKeysValues + block.keyRow * kvw, count: first * kvw)
                }
                if first < block.shape.keyLength {
                    accumulate(block, keys: first..<block.shape.keyLength, into: dKeysValues + (block.keyRow + first) * kvw)
                }
            }
        }
        if let wait = waiting { try wait() }
    }

    /// Copies the keys and values of `rows` rows of `qkv` into a packed block.
    func pack(_ qkv: UnsafePointer<Float>, rows: Int, into block: UnsafeMutablePointer<Float>) {
        let g = geometry
        for row in 0..<rows {
            backend.copy(qkv + row * g.width + g.outputWidth, into: block + row * g.keyValueWidth, count: g.keyValueWidth)
        }
    }

    /// Writes a packed key/value gradient block into the key and value columns of `dqkv`.
    func unpack(_ block: UnsafePointer<Float>, rows: Int, into dqkv: UnsafeMutablePointer<Float>) {
        let g = geometry
        for row in 0..<rows {
            backend.copy(block + row * g.keyValueWidth, into: dqkv + row * g.width + g.outputWidth, count: g.keyValueWidth)
        }
    }
}
