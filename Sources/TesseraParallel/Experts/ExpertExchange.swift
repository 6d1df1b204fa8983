import TesseraCollectives
import TesseraNN
import TesseraTensor

/// How one forward pass's routed rows travel between the expert-parallel ranks; kept in the layer's state so the
/// backward pass sends the gradients along the same counts the other way.
///
/// ``toExperts(_:columns:scratch:into:backend:)`` is the dispatch: each rank's rows, in dispatch order (grouped by
/// expert, so the rows for rank `q`'s experts are the `q`-th contiguous block), go to their expert's rank by one
/// all-to-all with per-rank counts; the receiver reorders them from source-major to expert-major so every local
/// expert's rows are contiguous for the grouped product. ``fromExperts(_:columns:scratch:into:backend:)`` is its exact
/// reverse (the combine's communication, and the dispatch's backward). On one rank both are the identity: no
/// communication, no copy. Forward and backward are adjoint: dispatch forward pairs with `fromExperts` backward, and
/// the reverse.
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

    /// Exchanges how many rows each rank sends to each expert (one all-to-all of `experts / ep` integers per pair of
    /// ranks; nothing on one rank).
    /// - Parameters:
    ///   - rowsPerExpert: this rank's rows per global expert, `[experts]`, `experts` divisible by the group size.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public init(rowsPerExpert: [Int], group: AxisGroup) throws {
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
        var received = [Int](repeating: 0, count: ranks * perRank)
        let bytes = [Int](repeating: perRank * MemoryLayout<Int>.stride, count: ranks)
        try rowsPerExpert.withUnsafeBytes { send in
            try received.withUnsafeMutableBytes { try communicator.allToAll(send, sendCounts: bytes, into: $0, receiveCounts: bytes) }
        }
        let counts = (0..<ranks).map { Array(received[$0 * perRank..<($0 + 1) * perRank]) }
        receiveRows = counts.map { $0.reduce(0, +) }
        rowsPerLocalExpert = (0..<perRank).map { e in counts.reduce(0) { $0 + $1[e] } }
        expertMajor = ExpertPermutation.expertMajorOrder(counts: counts)
        sourceMajor = ExpertPermutation.inverse(of: expertMajor)
    }

    /// Whether no communication happens (one expert-parallel rank).
    public var isLocal: Bool { group.size == 1 }
    /// Rows this rank's experts process.
    public var receivedRows: Int { receiveRows.reduce(0, +) }
    /// Rows this rank sent.
    public var sentRows: Int { sendRows.reduce(0, +) }

    /// Dispatch: `rows` (`[sentRows, columns]`, dispatch order) to the experts' ranks; returns this rank's received
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
    public func fromExperts(_ rows: UnsafeMutablePointer<Float>, columns: Int, scratch: FloatBuffer, into: FloatBuffer,
                            backend: any ComputeBackend) throws -> UnsafeMutablePointer<Float> {
        guard !isLocal else { return rows }
        scratch.reserve(receivedRows * columns)
        backend.gatherRows(rows, indices: sourceMajor, scales: nil, into: scratch.pointer, rows: receivedRows, columns: columns)
        into.reserve(sentRows * columns)
        try exchange(scratch.pointer, sending: receiveRows, into: into.pointer, receiving: sendRows, columns: columns)
        return into.pointer
    }

    private func exchange(_ input: UnsafePointer<Float>, sending: [Int], into output: UnsafeMutablePointer<Float>, receiving: [Int],
                          columns: Int) throws {
        let bytesPerRow = columns * MemoryLayout<Float>.stride
        try group.group!.allToAll(UnsafeRawBufferPointer(start: input, count: sending.reduce(0, +) * bytesPerRow),
                                  sendCounts: sending.map { $0 * bytesPerRow },
                                  into: UnsafeMutableRawBufferPointer(start: output, count: receiving.reduce(0, +) * bytesPerRow),
                                  receiveCounts: receiving.map { $0 * bytesPerRow })
    }
}
