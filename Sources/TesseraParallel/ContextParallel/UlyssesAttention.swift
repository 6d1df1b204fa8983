import TesseraCollectives
import TesseraNN
import TesseraTensor

/// Ulysses attention over the context-parallel group (Jacobs et al. 2023, "DeepSpeed Ulysses"): an all-to-all
/// turns sequence shards (this rank's tokens, every head) into head shards (every token, `heads / cp` query and
/// `kvHeads / cp` key/value heads), each rank runs ordinary causal attention over whole sequences on its heads,
/// and a second all-to-all turns the output back into sequence shards. The backward pass does the same with the
/// gradients. Rank `j`'s head shard is query heads `j·heads/cp ..< (j+1)·heads/cp` and the key/value heads they read.
///
/// The head-sharded q/k/v `[batch, length, shardWidth]` and output `[batch, length, heads/cp · headDim]` are kept
/// for the backward pass (`saved`); the log-sum-exp is `[batch, heads/cp, length]`.
struct UlyssesAttention {
    let geometry: ContextAttentionGeometry
    let backend: any ComputeBackend
    let faults: ContextParallelFaults
    let scratch: ContextAttentionScratch
    let group: any Communicator

    private var cp: Int { group.size }
    private var length: Int { geometry.shard.length }
    private var shardHeads: Int { geometry.heads / cp }
    private var shardKVHeads: Int { geometry.kvHeads / cp }
    /// A head-sharded q/k/v row.
    private var shardWidth: Int { (shardHeads + 2 * shardKVHeads) * geometry.headDim }
    private var shardOutputWidth: Int { shardHeads * geometry.headDim }
    private var fullRows: Int { geometry.batch * length }

    private var shape: AttentionShape {
        AttentionShape(batch: geometry.batch, queryLength: length, heads: shardHeads, kvHeads: shardKVHeads, headDim: geometry.headDim,
                       isCausal: !faults.contains(.unmaskedDiagonal))
    }

    /// The column ranges of a local row that belong to head shard `j`: its query, key and value heads (`qkv`
    /// rows), or its output heads.
    private func columns(shard j: Int, qkv: Bool) -> [Range<Int>] {
        let d = geometry.headDim, (h, k) = (shardHeads * d, shardKVHeads * d)
        guard qkv else { return [j * h..<(j + 1) * h] }
        let keys = geometry.heads * d, values = keys + geometry.kvHeads * d
        return [j * h..<(j + 1) * h, keys + j * k..<keys + (j + 1) * k, values + j * k..<values + (j + 1) * k]
    }

    /// Writes the output `[rows, outputWidth]` and `logSumExp`; keeps the head shards in `saved`.
    func forward(qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, logSumExp: FloatBuffer, saved: FloatBuffer) throws {
        saved.reserve(fullRows * (shardWidth + shardOutputWidth))
        logSumExp.reserve(geometry.batch * shardHeads * length)
        let headQKV = saved.pointer, headOut = saved.pointer + fullRows * shardWidth, o = shardHeads * geometry.headDim
        try toHeads(qkv, localWidth: geometry.width, qkv: true, into: headQKV)
        backend.attention(q: headQKV, qStride: shardWidth, k: headQKV + o, v: headQKV + o + shardKVHeads * geometry.headDim,
                          kvStride: shardWidth, into: headOut, outStride: shardOutputWidth, logSumExp: logSumExp.pointer, shape: shape)
        try toSequence(headOut, localWidth: geometry.outputWidth, qkv: false, into: out)
    }

    /// Writes `dqkv` `[rows, width]` from the output gradient and what the forward pass kept.
    func backward(dOut: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>, saved: FloatBuffer, dqkv: UnsafeMutablePointer<Float>) throws {
        let headQKV = saved.pointer, headOut = saved.pointer + fullRows * shardWidth, o = shardHeads * geometry.headDim
        let headDOut = scratch.keysValues[0], headDQKV = scratch.keyValueGradients[0]
        headDOut.reserve(fullRows * shardOutputWidth)
        headDQKV.reserve(fullRows * shardWidth)
        try toHeads(dOut, localWidth: geometry.outputWidth, qkv: false, into: headDOut.pointer)
        let v = o + shardKVHeads * geometry.headDim
        backend.attentionBackward(dOut: headDOut.pointer, q: headQKV, qStride: shardWidth, k: headQKV + o, v: headQKV + v,
                                  kvStride: shardWidth, out: headOut, outStride: shardOutputWidth, logSumExp: logSumExp,
                                  dq: headDQKV.pointer, dk: headDQKV.pointer + o, dv: headDQKV.pointer + v, shape: shape)
        try toSequence(headDQKV.pointer, localWidth: geometry.width, qkv: true, into: dqkv)
    }

    /// Sequence shards → head shards: this rank's rows `[rows, localWidth]` go, head shard `j`'s columns to rank `j`;
    /// what arrives is placed at the tokens' sequence positions in `full` `[batch, length, shard width]`.
    private func toHeads(_ local: UnsafePointer<Float>, localWidth: Int, qkv: Bool, into full: UnsafeMutablePointer<Float>) throws {
        let rows = geometry.rows, width = qkv ? shardWidth : shardOutputWidth
        scratch.send.reserve(cp * rows * width)
        for j in 0..<cp { copyColumns(from: local, localWidth: localWidth, rows: rows, shard: j, qkv: qkv, into: scratch.send.pointer + j * rows * width, reverse: false) }
        let counts = (0..<cp).map { geometry.rows(ofRank: $0) * width }
        try exchange(sendCounts: Array(repeating: rows * width, count: cp), receiveCounts: counts)
        var offset = 0
        for j in 0..<cp {
            placeRows(of: j, width: width, packed: scratch.receive.pointer + offset, full: full, intoFull: true)
            offset += counts[j]
        }
    }

    /// Head shards → sequence shards: the rows of `full` at rank `j`'s positions go to rank `j`; what arrives from
    /// rank `j` is written into head shard `j`'s columns of `local` `[rows, localWidth]`.
    private func toSequence(_ full: UnsafePointer<Float>, localWidth: Int, qkv: Bool, into local: UnsafeMutablePointer<Float>) throws {
        let rows = geometry.rows, width = qkv ? shardWidth : shardOutputWidth
        let counts = (0..<cp).map { geometry.rows(ofRank: $0) * width }
        scratch.send.reserve(counts.reduce(0, +))
        var offset = 0
        for j in 0..<cp {
            placeRows(of: j, width: width, packed: scratch.send.pointer + offset, full: UnsafeMutablePointer(mutating: full), intoFull: false)
            offset += counts[j]
        }
        try exchange(sendCounts: counts, receiveCounts: Array(repeating: rows * width, count: cp))
        for j in 0..<cp {
            copyColumns(from: UnsafeMutablePointer(mutating: local), localWidth: localWidth, rows: rows, shard: j, qkv: qkv,
                        into: scratch.receive.pointer + j * rows * width, reverse: true)
        }
    }

    /// Copies head shard `j`'s columns of `rows` local rows into packed rows (`reverse`: packed rows into the columns).
    private func copyColumns(from local: UnsafePointer<Float>, localWidth: Int, rows: Int, shard j: Int, qkv: Bool,
                             into packed: UnsafeMutablePointer<Float>, reverse: Bool) {
        let ranges = columns(shard: j, qkv: qkv), width = ranges.reduce(0) { $0 + $1.count }
        for row in 0..<rows {
            var column = 0
            for range in ranges {
                let l = UnsafeMutablePointer(mutating: local) + row * localWidth + range.lowerBound, p = packed + row * width + column
                if reverse { backend.copy(p, into: l, count: range.count) } else { backend.copy(l, into: p, count: range.count) }
                column += range.count
            }
        }
    }

    /// Copies rank `j`'s rows between `packed` (its local order) and `full` (sequence order).
    private func placeRows(of j: Int, width: Int, packed: UnsafeMutablePointer<Float>, full: UnsafeMutablePointer<Float>, intoFull: Bool) {
        let positions = geometry.shard.positions(ofRank: j), localLength = positions.count
        for b in 0..<geometry.batch {
            for (k, position) in positions.enumerated() {
                let p = packed + (b * localLength + k) * width, f = full + (b * length + position) * width
                if intoFull { backend.copy(p, into: f, count: width) } else { backend.copy(f, into: p, count: width) }
            }
        }
    }

    /// The all-to-all from `scratch.send` into `scratch.receive` (counts in floats).
    private func exchange(sendCounts: [Int], receiveCounts: [Int]) throws {
        let bytes = MemoryLayout<Float>.stride
        scratch.receive.reserve(receiveCounts.reduce(0, +))
        try group.allToAll(UnsafeRawBufferPointer(scratch.send.elements), sendCounts: sendCounts.map { $0 * bytes },
                           into: UnsafeMutableRawBufferPointer(scratch.receive.mutableElements), receiveCounts: receiveCounts.map { $0 * bytes })
    }
}
