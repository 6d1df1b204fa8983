import TesseraCollectives
import TesseraNN
import TesseraTensor

/// How one forward pass's routed rows travel between the expert-parallel ranks; kept in the layer's state so the
/// backward pass sends the gradients along the same counts the other way.
///
/// ``init(dispatching:rowsPerExpert:columns:group:scratch:into:backend:)`` is the forward dispatch: each rank's rows,
/// in dispatch order (grouped by expert, so the rows for rank `q`'s experts are the `q`-th contiguous block), go to
/// their expert's rank by one all-to-all that carries the per-expert counts with the rows; the receiver reorders them
/// from source-major to expert-major so every local expert's rows are contiguous for the grouped product.
/// ``toExperts(_:columns:scratch:into:backend:)`` sends along the same counts (the backward pass's gradients), and
/// ``fromExperts(_:columns:scratch:into:backend:overlapping:)`` is the exact reverse (the combine's communication, and
/// the dispatch's backward), optionally overlapped with other work. On one rank nothing is communicated or copied.
/// Forward and backward are adjoint: dispatch forward pairs with `fromExperts` backward, and the reverse.
public struct ExpertExchange: Sendable {
    /// Rows sent to each expert-parallel rank.
    public let sendRows: [Int]
    /// Rows received from each expert-parallel rank.
    public let receiveRows: [Int]
    /// Rows of each of this rank's experts, summed over the sources: the group sizes of the grouped product.
    public let rowsPerLocalExpert: [Int]
    /// Expert-major row → received row.
    let expertMajor: [Int32]
    /// Received row → expert-major row.
    let sourceMajor: [Int32]
    let group: AxisGroup

    /// The forward dispatch: sends `rows` (`[Σ rowsPerExpert, columns]`, dispatch order) to their experts' ranks
    /// together with how many rows each expert gets (one counted all-to-all,
    /// ``Communicator/allToAll(_:sendCounts:headers:into:)``: one meeting on the threads backend), and writes this
    /// rank's received rows, expert-major (`[receivedRows, columns]`), into `into`. `scratch` holds the received rows
    /// before the reordering. On one rank nothing moves: the rows stay in `rows`.
    /// - Parameters:
    ///   - rowsPerExpert: this rank's rows per global expert, `[experts]`, `experts` divisible by the group size.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public init(dispatching rows: UnsafeMutablePointer<Float>, rowsPerExpert: [Int], columns: Int, group: AxisGroup,
                scratch: FloatBuffer, into: FloatBuffer, backend: any ComputeBackend) throws {
        let ranks = group.size, perRank = rowsPerExpert.count / ranks
        self.group = group
        sendRows = (0..<ranks).map { r in rowsPerExpert[r * perRank..<(r + 1) * perRank].reduce(0, +) }
        guard let communicator = group.group, ranks > 1 else {
            receiveRows = sendRows
            rowsPerLocalExpert = rowsPerExpert
            expertMajor = []
            sourceMajor = []
            return
        }
        let bytesPerRow = columns * MemoryLayout<Float>.stride
        var arrived: AllToAllArrival?
        try communicator.allToAll(UnsafeRawBufferPointer(start: rows, count: sendRows.reduce(0, +) * bytesPerRow),
                                  sendCounts: sendRows.map { $0 * bytesPerRow }, headers: rowsPerExpert) { arrival in
            arrived = arrival
            scratch.reserve(arrival.receivedBytes / MemoryLayout<Float>.stride)
            return UnsafeMutableRawBufferPointer(start: scratch.pointer, count: arrival.receivedBytes)
        }
        let counts = (0..<ranks).map { Array(arrived!.header(from: $0)) }
        receiveRows = counts.map { $0.reduce(0, +) }
        rowsPerLocalExpert = (0..<perRank).map { e in counts.reduce(0) { $0 + $1[e] } }
        expertMajor = ExpertPermutation.expertMajorOrder(counts: counts)
        sourceMajor = ExpertPermutation.inverse(of: expertMajor)
        into.reserve(receivedRows * columns)
        backend.gatherRows(scratch.pointer, indices: expertMajor, scales: nil, into: into.pointer, rows: receivedRows, columns: columns)
    }

    /// Whether no communication happens (one expert-parallel rank).
    public var isLocal: Bool { group.size == 1 }
    /// Rows this rank's experts process.
    public var receivedRows: Int { receiveRows.reduce(0, +) }
    /// Rows this rank sent.
    public var sentRows: Int { sendRows.reduce(0, +) }

    /// Dispatch along the forward pass's counts: `rows` (`[sentRows, columns]`, dispatch order) to the experts' ranks; returns this rank's received
    /// rows in expert-major order (`[receivedRows, columns]`): `rows` itself on one rank, otherwise `into`.
    /// `scratch` holds the received rows before the reordering.
    public func toExperts(_ rows: UnsafeMutablePointer<Float>, columns: Int, scratch: FloatBuffer, into: FloatBuffer,
                          backend: any ComputeBackend) throws -> UnsafeMutablePointer<Float> {
        guard !isLocal else { return rows }
        scratch.reserve(receivedRows * columns)
        try exchange(rows, sending: sendRows, into: scratch.pointer, receiving: receiveRows, columns: columns)
        into.reserve(receivedRows * columns)
        backend.gatherRows(scratch.pointer, indices: expertMajor, scales: nil, into: into.pointer, rows: receivedRows, columns: columns)
        return into.pointer
    }

    /// Combine's exchange: expert-major `rows` (`[receivedRows, columns]`) back to the ranks they came from; returns
    /// them in each source's dispatch order (`[sentRows, columns]`): `rows` itself on one rank, otherwise `into`.
    /// `overlapping`, when given, runs on this thread while the all-to-all is in flight (a non-blocking
    /// ``Communicator/startAllToAll(_:sendCounts:into:receiveCounts:)``), or in its place on one rank; it must not touch
    /// `scratch` or `into`. The exchange completes before an error of `overlapping` is rethrown.
    public func fromExperts(_ rows: UnsafeMutablePointer<Float>, columns: Int, scratch: FloatBuffer, into: FloatBuffer,
                            backend: any ComputeBackend, overlapping: (() throws -> Void)? = nil) throws -> UnsafeMutablePointer<Float> {
        guard !isLocal else {
            try overlapping?()
            return rows
        }
        scratch.reserve(receivedRows * columns)
        backend.gatherRows(rows, indices: sourceMajor, scales: nil, into: scratch.pointer, rows: receivedRows, columns: columns)
        into.reserve(sentRows * columns)
        try exchange(scratch.pointer, sending: receiveRows, into: into.pointer, receiving: sendRows, columns: columns, overlapping: overlapping)
        return into.pointer
    }

    private func exchange(_ input: UnsafePointer<Float>, sending: [Int], into output: UnsafeMutablePointer<Float>, receiving: [Int],
                          columns: Int, overlapping: (() throws -> Void)? = nil) throws {
        let bytesPerRow = columns * MemoryLayout<Float>.stride, communicator = group.group!
        let source = UnsafeRawBufferPointer(start: input, count: sending.reduce(0, +) * bytesPerRow)
        let destination = UnsafeMutableRawBufferPointer(start: output, count: receiving.reduce(0, +) * bytesPerRow)
        let sendCounts = sending.map { $0 * bytesPerRow }, receiveCounts = receiving.map { $0 * bytesPerRow }
        guard let overlapping else {
            return try communicator.allToAll(source, sendCounts: sendCounts, into: destination, receiveCounts: receiveCounts)
        }
        let request = try communicator.startAllToAll(source, sendCounts: sendCounts, into: destination, receiveCounts: receiveCounts)
        let outcome = Result { try overlapping() }
        try request.wait()
        try outcome.get()
    }
}
