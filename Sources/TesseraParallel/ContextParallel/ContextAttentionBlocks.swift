import TesseraNN
import TesseraTensor

/// This rank's queries against one rank's key/value block, the unit ring and all-gather attention repeat.
///
/// Query part `a` (a chunk of the zig-zag split) against key part `c`: chunks entirely in the future (`c > a`)
/// are skipped, the diagonal block (`c == a`) is causal, earlier chunks are seen whole. The forward pass folds
/// each block's output into the running output with the log-sum-exp rule; the backward pass, given the final
/// output and log-sum-exp, adds each block's query gradient to `dqkv` and its key/value gradient to the block's.
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

    /// Folds the attention of this rank's queries over `source`'s keys into `out` and `logSumExp`. The caller
    /// folds its own block first: its diagonal blocks write every row.
    func forward(qkv: UnsafePointer<Float>, keysValues: UnsafePointer<Float>, source: Int,
                 out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>) {
        let g = geometry, kvw = g.keyValueWidth, ow = g.outputWidth
        for b in 0..<g.batch {
            for block in blocks(source: source, sequence: b) {
                let q = qkv + block.queryRow * g.width, k = keysValues + block.keyRow * kvw
                let lse = logSumExp + block.queryRow * g.heads
                guard !block.isDiagonal else {
                    backend.attention(q: q, qStride: g.width, k: k, v: k + g.kvHeads * g.headDim, kvStride: kvw,
                                      into: out + block.queryRow * ow, outStride: ow, logSumExp: lse, shape: block.shape)
                    continue
                }
                let rows = block.shape.queryLength
                scratch.partial.reserve(rows * ow)
                scratch.partialLogSumExp.reserve(rows * g.heads)
                backend.attention(q: q, qStride: g.width, k: k, v: k + g.kvHeads * g.headDim, kvStride: kvw,
                                  into: scratch.partial.pointer, outStride: ow, logSumExp: scratch.partialLogSumExp.pointer, shape: block.shape)
                backend.mergeAttention(scratch.partial.pointer, partialStride: ow, partialLogSumExp: scratch.partialLogSumExp.pointer,
                                       into: out + block.queryRow * ow, outStride: ow, logSumExp: lse,
                                       rows: rows, heads: g.heads, headDim: g.headDim)
            }
        }
    }

    /// Adds the gradients of the blocks between this rank's queries and `source`'s keys: query gradients to the
    /// query columns of `dqkv`, key/value gradients to `dKeysValues` (laid out like `keysValues`).
    /// - Parameter beforeAccumulating: runs once, right before the first key/value gradient is added to
    ///   `dKeysValues` (after the first block's kernel), or at the end when no block adds one: the ring waits there
    ///   for `dKeysValues` to arrive, so the transfer overlaps that kernel.
    func backward(dOut: UnsafePointer<Float>, qkv: UnsafePointer<Float>, keysValues: UnsafePointer<Float>, source: Int,
                  out: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>, dqkv: UnsafeMutablePointer<Float>,
                  dKeysValues: UnsafeMutablePointer<Float>, beforeAccumulating: () throws -> Void = {}) rethrows {
        let g = geometry, kvw = g.keyValueWidth, ow = g.outputWidth
        var waiting = true
        for b in 0..<g.batch {
            for block in blocks(source: source, sequence: b) {
                let queries = block.shape.queryLength, keys = block.shape.keyLength
                scratch.partial.reserve(queries * g.width)
                scratch.blockGradient.reserve(keys * kvw)
                let k = keysValues + block.keyRow * kvw, dq = scratch.partial.pointer, dkv = scratch.blockGradient.pointer
                backend.attentionBackward(
                    dOut: dOut + block.queryRow * ow, q: qkv + block.queryRow * g.width, qStride: g.width,
                    k: k, v: k + g.kvHeads * g.headDim, kvStride: kvw, out: out + block.queryRow * ow, outStride: ow,
                    logSumExp: logSumExp + block.queryRow * g.heads, dq: dq, dk: dkv, dv: dkv + g.kvHeads * g.headDim, shape: block.shape)
                for i in 0..<queries {
                    backend.axpy(dq + i * g.width, accumulatingInto: dqkv + (block.queryRow + i) * g.width, count: ow)
                }
                if waiting { waiting = false; try beforeAccumulating() }
                backend.axpy(dkv, accumulatingInto: dKeysValues + block.keyRow * kvw, count: keys * kvw)
            }
        }
        if waiting { try beforeAccumulating() }
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
