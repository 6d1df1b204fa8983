import TesseraNN

/// One rank's attention under context parallelism: its shard of the sequences, its (tensor-parallel local) heads,
/// and the row widths of its buffers. Rows are `[batch, localLength]` (``ContextShard``).
struct ContextAttentionGeometry {
    let shard: ContextShard
    let batch: Int
    let heads: Int, kvHeads: Int, headDim: Int
    /// Query heads per key/value head in the whole model, and the place of this rank's first query head in its
    /// group (``AttentionShape/groupOffset``: non-zero on an uneven tensor-parallel split).
    let groupSize: Int, groupOffset: Int

    /// A row of the projected `qkv`: the query heads, then the keys, then the values.
    var width: Int { (heads + 2 * kvHeads) * headDim }
    /// A row of a packed key/value block: the keys, then the values (the tail of a `qkv` row).
    var keyValueWidth: Int { 2 * kvHeads * headDim }
    /// A row of the attention output.
    var outputWidth: Int { heads * headDim }
    /// Local rows of rank `r` (every sequence's share).
    func rows(ofRank r: Int) -> Int { batch * shard.localLength(ofRank: r) }
    /// This rank's local rows.
    var rows: Int { rows(ofRank: shard.rank) }
}

/// The scratch of one attention layer's context-parallel passes (a rank runs one pass at a time, so every
/// micro-batch shares it); nothing in it outlives a call.
final class ContextAttentionScratch: @unchecked Sendable {
    /// Key/value blocks: the ring's current and next block (forward) or current block and its gradient (backward),
    /// or all-gather's gathered keys and values, or Ulysses' head-sharded output gradient.
    let keysValues = [FloatBuffer(count: 0), FloatBuffer(count: 0)]
    /// The ring's third block in the backward pass (the first only), all-gather's gathered gradients and their
    /// reduce-scatter, or Ulysses' head-sharded q/k/v gradient.
    let keyValueGradients = [FloatBuffer(count: 0), FloatBuffer(count: 0)]
    /// The partial output of one tile of an off-diagonal block's queries and its log-sum-exp (forward;
    /// ``ContextAttentionBlocks/queryTile`` rows, whatever the sequence length).
    let partial = FloatBuffer(count: 0)
    let partialLogSumExp = FloatBuffer(count: 0)
    /// The key/value gradient of a ring step's first key tile while the step's gradient block is still arriving
    /// (``ContextAttentionBlocks/keyTile`` rows).
    let blockGradient = FloatBuffer(count: 0)
    /// All-to-all send and receive buffers.
    let send = FloatBuffer(count: 0), receive = FloatBuffer(count: 0)

    /// Bytes held.
    var byteCount: Int {
        (keysValues + keyValueGradients + [partial, partialLogSumExp, blockGradient, send, receive]).reduce(0) { $0 + $1.byteCount }
    }
}
