import TesseraParallel

extension MicroBatch {
    /// This rank's zig-zag share of every sequence (``ContextShard``): rows `[batch, shard.localLength]`, each
    /// sequence's tokens and targets at the shard's positions. Every rank of a cp group shards the same micro-batch,
    /// so the data order and the target count are those of the whole micro-batch.
    /// - Parameter faults: ``ContextParallelFaults/swappedChunks`` cuts the two chunks in swapped order (tests only).
    /// - Precondition: `shard.length == length` and the micro-batch is not sharded yet.
    public func sharded(_ shard: ContextShard, faults: ContextParallelFaults = []) -> MicroBatch {
        precondition(shard.length == length && self.shard == nil, "shard of \(shard.length) tokens for sequences of \(length)")
        var positions = shard.positions
        if faults.contains(.swappedChunks) {
            let first = shard.chunk(shard.rank).count
            positions = Array(positions[first...] + positions[..<first])
        }
        func take(_ ids: [Int32]) -> [Int32] { (0..<batch).flatMap { b in positions.map { ids[b * length + $0] } } }
        // Valid by construction: the counts are batch × localLength (≥ 1).
        guard var local = try? MicroBatch(tokens: take(tokens), targets: targets.map(take), batch: batch, length: shard.localLength) else {
            preconditionFailure("a shard of a valid micro-batch is valid")
        }
        local.shard = shard
        return local
    }

    /// The sequence position of local row `row` (a row of `[batch, length]`; the shard's position with context parallelism).
    func position(ofRow row: Int) -> Int { shard?.positions[row % length] ?? row % length }
}
