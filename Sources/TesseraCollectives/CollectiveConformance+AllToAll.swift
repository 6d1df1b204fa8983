/// The conformance checks of the all-to-all variants an expert-parallel exchange uses: counts travelling with the
/// payload, and the non-blocking form.
extension CollectiveConformance {
    /// Rank `r` sends `(r + q) % 3` floats to rank `q` (none on some pairs), each encoding (sender, receiver, index).
    private static func pieceCount(_ from: Int, _ to: Int) -> Int { (from + to) % 3 }
    private static func pieceValue(_ from: Int, _ to: Int, _ index: Int) -> Float { Float(from * 100 + to * 10 + index) }
    private static func pieces(from rank: Int, ranks: Int) -> [Float] {
        (0..<ranks).flatMap { to in (0..<pieceCount(rank, to)).map { pieceValue(rank, to, $0) } }
    }
    private static func pieces(to rank: Int, ranks: Int) -> [Float] {
        (0..<ranks).flatMap { from in (0..<pieceCount(from, rank)).map { pieceValue(from, rank, $0) } }
    }

    /// The receiver learns each sender's byte count and a two-integer header `[sender, 7 · receiver]` from the
    /// exchange, sizes its output from them, and gets the pieces in rank order.
    static func allToAllWithCounts(_ world: any Communicator) throws {
        let r = world.rank, n = world.size
        let input = pieces(from: r, ranks: n)
        let headers = (0..<n).flatMap { [r, 7 * $0] }
        var seen: AllToAllArrival?
        var buffer: UnsafeMutableBufferPointer<Float>?
        defer { buffer?.deallocate() }
        try input.withUnsafeBytes { input in
            try world.allToAll(input, sendCounts: (0..<n).map { pieceCount(r, $0) * 4 }, headers: headers) { arrival in
                seen = arrival
                buffer = .allocate(capacity: arrival.receivedBytes / 4)
                return UnsafeMutableRawBufferPointer(buffer!)
            }
        }
        let output = buffer.map(Array.init) ?? []
        let check = "allToAllWithCounts"
        try expect(seen?.receiveCounts == (0..<n).map { pieceCount($0, r) * 4 }, check, "rank \(r) was told it receives \(String(describing: seen?.receiveCounts))")
        try expect(seen?.headers == (0..<n).flatMap { [$0, 7 * r] }, check, "rank \(r) received headers \(String(describing: seen?.headers))")
        try expect(output == pieces(to: r, ranks: n), check, "rank \(r) received \(output)")
    }

    /// A started all-to-all completes across a blocking collective and delivers the pieces.
    static func nonBlockingAllToAll(_ world: any Communicator) throws {
        let r = world.rank, n = world.size
        let input = pieces(from: r, ranks: n), receiveCounts = (0..<n).map { pieceCount($0, r) * 4 }
        var output = [Float](repeating: -1, count: receiveCounts.reduce(0, +) / 4)
        try input.withUnsafeBytes { input in
            try output.withUnsafeMutableBytes { output in
                let request = try world.startAllToAll(input, sendCounts: (0..<n).map { pieceCount(r, $0) * 4 }, into: output,
                                                      receiveCounts: receiveCounts)
                try world.barrier()
                try request.wait()
            }
        }
        try expect(output == pieces(to: r, ranks: n), "nonBlockingAllToAll", "rank \(r) received \(output)")
    }
}
