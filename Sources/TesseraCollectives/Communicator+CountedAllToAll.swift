/// What one rank receives in an all-to-all whose counts travel with it
/// (``Communicator/allToAll(_:sendCounts:headers:into:)``).
public struct AllToAllArrival: Sendable, Hashable {
    /// Bytes from each rank, `[size]`.
    public let receiveCounts: [Int]
    /// The headers sent to this rank, rank-major: `headers[r·L..<(r+1)·L]` came from rank `r` (`L` =
    /// ``headerLength``).
    public let headers: [Int]

    public init(receiveCounts: [Int], headers: [Int]) {
        self.receiveCounts = receiveCounts
        self.headers = headers
    }

    /// Integers in each rank's header.
    public var headerLength: Int { receiveCounts.isEmpty ? 0 : headers.count / receiveCounts.count }

    /// Bytes received from every rank together.
    public var receivedBytes: Int { receiveCounts.reduce(0, +) }

    /// The header rank `source` sent to this rank.
    public func header(from source: Int) -> ArraySlice<Int> {
        headers[source * headerLength..<(source + 1) * headerLength]
    }
}

extension Communicator {
    /// Two exchanges, for backends whose all-to-all needs the receive counts up front (MPI's `MPI_Alltoallv`):
    /// an all-to-all of each pair's byte count and header (`1 + L` integers), then the payload.
    public func allToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int], headers: [Int],
                         into output: (AllToAllArrival) -> UnsafeMutableRawBufferPointer) throws {
        let length = try CollectiveArguments.checkAllToAll(sendCounts: sendCounts, inputBytes: input.count, headers: headers.count,
                                                           group: name, size: size)
        let record = 1 + length
        var outgoing: [Int] = []
        outgoing.reserveCapacity(size * record)
        for rank in 0..<size {
            outgoing.append(sendCounts[rank])
            outgoing += headers[rank * length..<(rank + 1) * length]
        }
        var incoming = [Int](repeating: 0, count: size * record)
        let bytes = [Int](repeating: record * MemoryLayout<Int>.stride, count: size)
        try outgoing.withUnsafeBytes { send in
            try incoming.withUnsafeMutableBytes { try allToAll(send, sendCounts: bytes, into: $0, receiveCounts: bytes) }
        }
        let arrival = AllToAllArrival(receiveCounts: (0..<size).map { incoming[$0 * record] },
                                      headers: (0..<size).flatMap { incoming[$0 * record + 1..<($0 + 1) * record] })
        let buffer = output(arrival)
        try CollectiveArguments.checkArrivalBuffer(buffer.count, arrival: arrival, group: name)
        try allToAll(input, sendCounts: sendCounts, into: buffer, receiveCounts: arrival.receiveCounts)
    }
}

extension CollectiveArguments {
    /// One non-negative count per rank summing to at most the input's bytes, and a header of the same length for
    /// every rank; returns that length.
    package static func checkAllToAll(sendCounts: [Int], inputBytes: Int, headers: Int, group: String, size: Int) throws -> Int {
        guard sendCounts.count == size, sendCounts.allSatisfy({ $0 >= 0 }), sendCounts.reduce(0, +) <= inputBytes else {
            throw CollectiveError.invalidArgument(
                group: group, operation: "allToAll",
                detail: "sendCounts \(sendCounts) must have \(size) non-negative entries summing to at most the buffer's \(inputBytes) bytes")
        }
        guard headers % size == 0 else {
            throw CollectiveError.invalidArgument(
                group: group, operation: "allToAll",
                detail: "\(headers) header integers do not split into \(size) equal headers, one per rank")
        }
        return headers / size
    }

    /// The buffer a counted all-to-all's `output` returned holds everything the rank receives.
    package static func checkArrivalBuffer(_ bytes: Int, arrival: AllToAllArrival, group: String) throws {
        guard bytes >= arrival.receivedBytes else {
            throw CollectiveError.invalidArgument(
                group: group, operation: "allToAll",
                detail: "the output buffer has \(bytes) bytes but \(arrival.receivedBytes) arrive (\(arrival.receiveCounts) from each rank)")
        }
    }
}
