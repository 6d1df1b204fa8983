/// How a reduction combines the ranks' values.
public enum ReduceOperation: String, Sendable, CaseIterable {
    case sum, max, mean
}

/// A handle on a non-blocking collective or point-to-point operation.
///
/// The buffers passed to the `start…` call must stay valid and untouched until ``wait()`` returns.
public protocol CollectiveRequest: AnyObject, Sendable {
    /// Blocks until the operation completes or its deadline passes.
    /// - Throws: ``CollectiveError`` naming the group, operation, sequence number and missing ranks.
    func wait() throws
    /// Whether the operation has completed (never blocks).
    var isComplete: Bool { get }
}

/// One process group: the small collective interface every parallelism talks through.
///
/// Ranks are threads or processes, never Swift tasks: every call blocks the calling thread until the
/// operation completes, fails, or its ``deadline`` passes. All ranks of a group must issue the same
/// collectives in the same order with matching sizes; backends detect mismatches where they can.
///
/// Contract for every collective:
/// - it throws ``CollectiveError`` (never hangs, never traps) when a peer fails, leaves, disagrees on
///   the call, or does not arrive before the deadline;
/// - at group size 1 it is a local copy or the identity;
/// - reductions over Float32 give every rank bitwise-identical results.
public protocol Communicator: AnyObject, Sendable {
    /// This caller's position in the group, `0..<size`.
    var rank: Int { get }
    /// Number of ranks in the group.
    var size: Int { get }
    /// A readable name used in errors, e.g. `"world"`, `"tp[pp=1,dp=0]"`.
    var name: String { get }
    /// The longest any blocking call waits for its peers.
    var deadline: Duration { get }

    /// Reduces `buffer` element-wise over all ranks, in place, in a fixed rank order.
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws
    /// Concatenates each rank's `input` in rank order into `output` (`output.count == size * input.count`).
    func allGather(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws
    /// Reduces `input` (`size * output.count` floats) over ranks; rank `r` receives block `r`.
    func reduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                       operation: ReduceOperation) throws
    /// Copies `root`'s `buffer` to every rank.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Sends bytes to `destination`; matched by the `receive` with the same source and tag.
    func send(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws
    /// Receives exactly `buffer.count` bytes from `source` with `tag`.
    func receive(into buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws
    /// Personalized exchange: the `sendCounts[r]` bytes at offset `Σ sendCounts[..<r]` of `input` go to
    /// rank `r`; the bytes from rank `r` land at offset `Σ receiveCounts[..<r]` of `output`.
    func allToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int],
                  into output: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws
    /// Personalized exchange in which receivers learn what they receive from the exchange itself: the
    /// `sendCounts[r]` bytes at offset `Σ sendCounts[..<r]` of `input`, and the `headers.count / size` integers
    /// `headers[r·L..<(r+1)·L]`, go to rank `r`. Once every rank's counts and headers are known, `output` is called
    /// with what this rank receives (``AllToAllArrival``) and returns a buffer of at least its total bytes, into which
    /// the bytes from rank `r` land at offset `Σ receiveCounts[..<r]`.
    ///
    /// Replaces an all-to-all of the counts followed by ``allToAll(_:sendCounts:into:receiveCounts:)``; a backend
    /// that can read its peers' counts where they publish their buffers (threads) does both in one meeting.
    /// - Throws: ``CollectiveError/invalidArgument(group:operation:detail:)`` for counts or headers of the wrong
    ///   length, or an `output` buffer too small.
    func allToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int], headers: [Int],
                  into output: (AllToAllArrival) -> UnsafeMutableRawBufferPointer) throws
    /// Returns once every rank has arrived.
    func barrier() throws
    /// Splits the group as `MPI_Comm_split` does: ranks with the same `color` form a new group ordered by
    /// `(key, old rank)`; a negative `color` takes no part and gets `nil`. Every rank must call it.
    func split(color: Int, key: Int, name: String) throws -> (any Communicator)?

    /// Non-blocking ``allReduce(_:operation:)``.
    func startAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws -> any CollectiveRequest
    /// Non-blocking ``allGather(_:into:)``.
    func startAllGather(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> any CollectiveRequest
    /// Non-blocking ``reduceScatter(_:into:operation:)``.
    func startReduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                            operation: ReduceOperation) throws -> any CollectiveRequest
    /// Non-blocking ``allToAll(_:sendCounts:into:receiveCounts:)``.
    func startAllToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int],
                       into output: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws -> any CollectiveRequest
    /// Non-blocking ``send(_:to:tag:)``.
    func startSend(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws -> any CollectiveRequest
    /// Non-blocking ``receive(into:from:tag:)``.
    func startReceive(into buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws -> any CollectiveRequest
}

extension Communicator {
    /// Float32 ``allGather(_:into:)``.
    public func allGather(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws {
        try allGather(UnsafeRawBufferPointer(input), into: UnsafeMutableRawBufferPointer(output))
    }

    /// Float32 ``send(_:to:tag:)``.
    public func send(_ buffer: UnsafeBufferPointer<Float>, to destination: Int, tag: Int) throws {
        try send(UnsafeRawBufferPointer(buffer), to: destination, tag: tag)
    }

    /// Float32 ``receive(into:from:tag:)``.
    public func receive(into buffer: UnsafeMutableBufferPointer<Float>, from source: Int, tag: Int) throws {
        try receive(into: UnsafeMutableRawBufferPointer(buffer), from: source, tag: tag)
    }

    /// Float32 ``broadcast(_:root:)``.
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        try broadcast(UnsafeMutableRawBufferPointer(buffer), root: root)
    }

    /// Reduces one scalar over the group (a convenience for losses and norms).
    public func allReduce(_ value: Float, operation: ReduceOperation) throws -> Float {
        var scalar = value
        try withUnsafeMutablePointer(to: &scalar) {
            try allReduce(UnsafeMutableBufferPointer(start: $0, count: 1), operation: operation)
        }
        return scalar
    }
}
