/// Where a rank's rows lie in its micro-batch's sequences: what an expert capacity needs, since it counts the
/// assignments of a whole sequence (``RouterConfiguration/capacity(length:)``) while sequence and context parallelism
/// give each rank only part of one.
public struct SequenceRows: Sendable {
    /// Tokens of a whole sequence: the group one capacity applies to (1 for a decoding step's rows).
    public let length: Int
    /// Sequences in the micro-batch.
    public let batch: Int
    private let localLength: Int
    private let shard: ContextShard?
    /// With sequence parallelism: this rank's block of the tp group's rows.
    private let tensorBlock: (rank: Int, ranks: Int)?

    /// Rows that are `length`-token sequences whole and in order: one device, tp without sequence parallelism, a
    /// data-parallel rank's own sequences, or (`length` 1) a decoding step's rows, each its own group.
    public init(length: Int, batch: Int = 1) {
        self.length = length
        self.batch = batch
        localLength = length
        shard = nil
        tensorBlock = nil
    }

    /// This rank's rows of `batch` sequences under `context`'s layout: `localLength` tokens of each sequence on this rank
    /// (`shard`: its context-parallel share, ``ContextShard/positions``), and with sequence parallelism its tp rank's
    /// block of those rows (``LayerContext/localRows(tokens:)``).
    public init(batch: Int, localLength: Int, shard: ContextShard?, context: LayerContext) {
        length = shard?.length ?? localLength
        self.batch = batch
        self.localLength = localLength
        self.shard = shard
        tensorBlock = context.sequenceParallel ? (context.tp.rank, context.tp.size) : nil
    }

    /// Whether other ranks hold parts of these sequences.
    public var isSplit: Bool { shard != nil || tensorBlock != nil }

    /// The row of each of this rank's rows in the micro-batch's `[batch, length]` tokens (`sequence · length + position`).
    public func microBatchRows() -> [Int] {
        let rows = (0..<batch * localLength).map { r in r / localLength * length + (shard?.positions[r % localLength] ?? r % localLength) }
        guard let tensorBlock else { return rows }
        let share = rows.count / tensorBlock.ranks
        return Array(rows[tensorBlock.rank * share..<(tensorBlock.rank + 1) * share])
    }
}
