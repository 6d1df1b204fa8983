import Foundation
import TesseraCollectives

/// Time and bytes one rank spent in collectives, per group: what a step's "communication time" is.
///
/// Time is wall-clock time inside blocking calls and inside `wait()` on non-blocking requests, so it includes
/// waiting for slower peers (load imbalance shows up here, as it does in a profiler's view of the rank).
public final class CommunicationMeter: @unchecked Sendable {
    /// Totals of one group.
    public struct Totals: Sendable, Hashable {
        public var seconds: Double = 0
        /// Bytes this rank contributed (its input buffers).
        public var bytes: Int = 0
        public var calls: Int = 0
    }

    /// One collective call: its group and when it began and returned (`DispatchTime` uptime nanoseconds, one clock for every thread of a process).
    public struct Call: Sendable, Hashable {
        public var group: String
        public var start: UInt64, end: UInt64

        public init(group: String, start: UInt64, end: UInt64) {
            (self.group, self.start, self.end) = (group, start, end)
        }
    }

    private let lock = NSLock()
    private var totals: [String: Totals] = [:]
    private var log: [Call]?

    /// - Parameter logsCalls: also keep every call (``calls``), so that the ranks' logs can be lined up to tell
    ///   waiting for a peer from the exchange itself (``PeerWait``).
    public init(logsCalls: Bool = false) {
        log = logsCalls ? [] : nil
    }

    /// Every call so far (blocking calls and the starts of non-blocking ones, not their waits), in order, when made
    /// with `logsCalls`; empty otherwise.
    public var calls: [Call] { lock.withLock { log ?? [] } }

    /// Totals per group name so far.
    public var byGroup: [String: Totals] { lock.withLock { totals } }

    /// Seconds over every group so far.
    public var seconds: Double { byGroup.values.reduce(0) { $0 + $1.seconds } }

    /// Charges the call that ran from `start` to `end` (uptime nanoseconds) to `group`; `calls` 0 for the wait on a
    /// request already counted when it started.
    func record(group: String, start: UInt64, end: UInt64, bytes: Int, calls: Int = 1) {
        lock.withLock {
            if log != nil, calls > 0 { log!.append(Call(group: group, start: start, end: end)) }
            totals[group, default: Totals()].seconds += Double(end - start) / 1e9
            totals[group, default: Totals()].bytes += bytes
            totals[group, default: Totals()].calls += calls
        }
    }

    /// Runs `body` and charges its wall time and `bytes` to `group`.
    func measure<T>(_ group: String, bytes: Int, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { record(group: group, start: start, end: DispatchTime.now().uptimeNanoseconds, bytes: bytes) }
        return try body()
    }
}

/// A communicator that forwards every call to another and charges it to a ``CommunicationMeter``; groups split
/// from it are metered too. Wrap the world before building process groups to meter a whole run.
public final class MeteredCommunicator: Communicator, @unchecked Sendable {
    public let inner: any Communicator
    public let meter: CommunicationMeter

    public init(_ inner: any Communicator, meter: CommunicationMeter) {
        self.inner = inner
        self.meter = meter
    }

    public var rank: Int { inner.rank }
    public var size: Int { inner.size }
    public var name: String { inner.name }
    public var deadline: Duration { inner.deadline }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws {
        try meter.measure(name, bytes: buffer.count * 4) { try inner.allReduce(buffer, operation: operation) }
    }

    public func allGather(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        try meter.measure(name, bytes: input.count) { try inner.allGather(input, into: output) }
    }

    public func reduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                              operation: ReduceOperation) throws {
        try meter.measure(name, bytes: input.count * 4) { try inner.reduceScatter(input, into: output, operation: operation) }
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try meter.measure(name, bytes: rank == root ? buffer.count : 0) { try inner.broadcast(buffer, root: root) }
    }

    public func send(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        try meter.measure(name, bytes: buffer.count) { try inner.send(buffer, to: destination, tag: tag) }
    }

    public func receive(into buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws {
        try meter.measure(name, bytes: 0) { try inner.receive(into: buffer, from: source, tag: tag) }
    }

    public func allToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int],
                         into output: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws {
        try meter.measure(name, bytes: input.count) {
            try inner.allToAll(input, sendCounts: sendCounts, into: output, receiveCounts: receiveCounts)
        }
    }

    public func allToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int], headers: [Int],
                         into output: (AllToAllArrival) -> UnsafeMutableRawBufferPointer) throws {
        try meter.measure(name, bytes: input.count) { try inner.allToAll(input, sendCounts: sendCounts, headers: headers, into: output) }
    }

    public func barrier() throws {
        try meter.measure(name, bytes: 0) { try inner.barrier() }
    }

    public func split(color: Int, key: Int, name: String) throws -> (any Communicator)? {
        try inner.split(color: color, key: key, name: name).map { MeteredCommunicator($0, meter: meter) }
    }

    public func startAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws -> any CollectiveRequest {
        try metered(bytes: buffer.count * 4) { try inner.startAllReduce(buffer, operation: operation) }
    }

    public func startAllGather(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> any CollectiveRequest {
        try metered(bytes: input.count) { try inner.startAllGather(input, into: output) }
    }

    public func startReduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                                   operation: ReduceOperation) throws -> any CollectiveRequest {
        try metered(bytes: input.count * 4) { try inner.startReduceScatter(input, into: output, operation: operation) }
    }

    public func startAllToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int],
                              into output: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws -> any CollectiveRequest {
        try metered(bytes: input.count) {
            try inner.startAllToAll(input, sendCounts: sendCounts, into: output, receiveCounts: receiveCounts)
        }
    }

    public func startSend(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws -> any CollectiveRequest {
        try metered(bytes: buffer.count) { try inner.startSend(buffer, to: destination, tag: tag) }
    }

    public func startReceive(into buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws -> any CollectiveRequest {
        try metered(bytes: 0) { try inner.startReceive(into: buffer, from: source, tag: tag) }
    }

    /// Starts a request and wraps it so the time spent starting it and waiting on it is charged.
    private func metered(bytes: Int, _ start: () throws -> any CollectiveRequest) throws -> any CollectiveRequest {
        let request = try meter.measure(name, bytes: bytes, start)
        return MeteredRequest(inner: request, meter: meter, group: name)
    }
}

/// A request whose `wait()` time is charged to a meter.
final class MeteredRequest: CollectiveRequest, @unchecked Sendable {
    let inner: any CollectiveRequest
    let meter: CommunicationMeter
    let group: String

    init(inner: any CollectiveRequest, meter: CommunicationMeter, group: String) {
        self.inner = inner
        self.meter = meter
        self.group = group
    }

    func wait() throws {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { meter.record(group: group, start: start, end: DispatchTime.now().uptimeNanoseconds, bytes: 0, calls: 0) }
        try inner.wait()
    }

    var isComplete: Bool { inner.isComplete }
}
