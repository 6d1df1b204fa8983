extension Communicator {
    /// ``allGather(_:into:)`` for unequal shares: rank `r` contributes `counts[r]` floats (`input.count ==
    /// counts[rank]`) and `output` (`Σ counts` floats) receives them concatenated in rank order.
    ///
    /// Built on the equal all-gather: each rank pads its share to the largest count, and the gathered blocks
    /// are then packed. Balanced tensor-parallel shares differ by at most one unit, so the padding is at most one
    /// unit per rank.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func allGather(_ input: UnsafeBufferPointer<Float>, counts: [Int], into output: UnsafeMutableBufferPointer<Float>) throws {
        precondition(counts.count == size && input.count == counts[rank] && output.count == counts.reduce(0, +),
                     "allGather(counts:) on \(name): \(input.count) floats in, \(output.count) out for counts \(counts)")
        let widest = counts.max() ?? 0
        guard counts.contains(where: { $0 != widest }) else { return try allGather(input, into: output) }
        var padded = [Float](repeating: 0, count: widest)
        _ = padded.withUnsafeMutableBufferPointer { $0.update(fromContentsOf: input) }
        var blocks = [Float](repeating: 0, count: widest * size)
        try padded.withUnsafeBufferPointer { block in try blocks.withUnsafeMutableBufferPointer { try allGather(block, into: $0) } }
        var offset = 0
        blocks.withUnsafeBufferPointer { gathered in
            for (r, count) in counts.enumerated() {
                (output.baseAddress! + offset).update(from: gathered.baseAddress! + r * widest, count: count)
                offset += count
            }
        }
    }
}
