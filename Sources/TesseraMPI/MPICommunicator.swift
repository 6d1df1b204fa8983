import CMPI
import TesseraCollectives
import TesseraTensor
#if canImport(Glibc)
import Glibc
#endif

/// A communicator of the MPI backend: one rank per process, Open MPI underneath.
///
/// Blocking collectives are the native MPI calls under the ``MPIWatchdog``'s deadline; non-blocking ones
/// are `MPI_I…` requests whose `wait()` polls `MPI_Test` against the deadline. Sends are buffered (the data
/// is copied and sent with `MPI_Isend`), so a send never waits for its receive; receives poll with the
/// deadline. Errors come back as codes (`MPI_ERRORS_RETURN`) and become ``CollectiveError/backend(group:operation:detail:)``.
final class MPICommunicator: Communicator, @unchecked Sendable {
    let context: MPIContext
    let comm: MPI_Comm
    let rank: Int
    let size: Int
    let name: String
    let deadline: Duration
    let arrivals: MPIArrivalView
    /// The blocking call in progress, for the watchdog.
    let watch = MPIWatchdog.Watch()
    private let nextSequence = AtomicWord()
    private let tagUpperBound: Int
    private let lock = Lock()
    // Guarded by `lock`:
    private var messageCounts: [ChannelKey: Int] = [:]
    private var pendingSends: [(request: any CollectiveRequest, copy: UnsafeMutableRawBufferPointer, destination: Int)] = []

    /// Wraps `comm` (collective: members exchange their arrival-board entries).
    init(context: MPIContext, comm: MPI_Comm, name: String, deadline: Duration) throws {
        self.context = context
        self.comm = comm
        self.name = name
        self.deadline = deadline
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(comm, &rank)
        MPI_Comm_size(comm, &size)
        self.rank = Int(rank)
        self.size = Int(size)
        var value: UnsafeMutableRawPointer?
        var found: Int32 = 0
        MPI_Comm_get_attr(comm, tessera_mpi_tag_ub(), &value, &found)
        tagUpperBound = found != 0 ? Int(value!.load(as: Int32.self)) : 32767
        var worldRank: Int32 = 0
        MPI_Comm_rank(tessera_mpi_comm_world(), &worldRank)
        let entry = context.board.takeEntry()
        let mine: [Int64] = [Int64(worldRank), Int64(entry ?? -1)]
        var all = [Int64](repeating: 0, count: 2 * Int(size))
        try mpiCheck(MPI_Allgather(mine, 2, tessera_mpi_int64(), &all, 2, tessera_mpi_int64(), comm),
                     group: name, operation: "arrival board")
        arrivals = MPIArrivalView(board: context.board, entry: entry,
                                  members: (0..<Int(size)).map { (Int(all[2 * $0]), Int(all[2 * $0 + 1])) },
                                  rank: Int(rank))
    }

    // MARK: Blocking collectives

    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws {
        let count = try mpiCount(buffer.count, group: name, operation: "allReduce")
        try blocking(MPICall(kind: .allReduce, byteCount: buffer.count * 4, argument: operation.index)) {
            MPI_Allreduce(tessera_mpi_in_place(), buffer.baseAddress, count, tessera_mpi_float(), operation.mpiOperation, comm)
        }
        divideIfMean(operation, buffer)
    }

    func allGather(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        let count = try allGatherCount(input, output)
        try blocking(MPICall(kind: .allGather, byteCount: input.count)) {
            MPI_Allgather(input.baseAddress, count, tessera_mpi_byte(), output.baseAddress, count, tessera_mpi_byte(), comm)
        }
    }

    func reduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                       operation: ReduceOperation) throws {
        let count = try reduceScatterCount(input, output)
        try blocking(MPICall(kind: .reduceScatter, byteCount: output.count * 4, argument: operation.index)) {
            MPI_Reduce_scatter_block(input.baseAddress, output.baseAddress, count, tessera_mpi_float(),
                                     operation.mpiOperation, comm)
        }
        divideIfMean(operation, output)
    }

    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try checkPeer(root, role: "root", operation: "broadcast")
        let count = try mpiCount(buffer.count, group: name, operation: "broadcast")
        try blocking(MPICall(kind: .broadcast, byteCount: buffer.count, argument: root)) {
            MPI_Bcast(buffer.baseAddress, count, tessera_mpi_byte(), Int32(root), comm)
        }
    }

    func allToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int],
                  into output: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws {
        try CollectiveArguments.checkAllToAll(sendCounts: sendCounts, inputBytes: input.count, receiveCounts: receiveCounts,
                                              outputBytes: output.count, group: name, size: size)
        let send = try int32Layout(sendCounts), receive = try int32Layout(receiveCounts)
        try blocking(MPICall(kind: .allToAll, byteCount: 0)) {
            MPI_Alltoallv(input.baseAddress, send.counts, send.offsets, tessera_mpi_byte(),
                          output.baseAddress, receive.counts, receive.offsets, tessera_mpi_byte(), comm)
        }
    }

    func barrier() throws {
        try blocking(MPICall(kind: .barrier, byteCount: 0)) { MPI_Barrier(comm) }
    }

    /// `MPI_Comm_split`; a negative colour is `MPI_UNDEFINED`.
    func split(color: Int, key: Int, name: String) throws -> (any Communicator)? {
        var newComm: MPI_Comm? = tessera_mpi_comm_null()
        let mpiColor = color < 0 ? tessera_mpi_undefined() : Int32(clamping: color)
        try blocking(MPICall(kind: .split, byteCount: 0)) {
            MPI_Comm_split(comm, mpiColor, Int32(clamping: key), &newComm)
        }
        guard let newComm, newComm != tessera_mpi_comm_null() else { return nil }
        return try context.adopt(newComm, name: name, deadline: deadline)
    }

    // MARK: Point to point

    func send(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(buffer.count, 1), alignment: 64)
        if buffer.count > 0 { copy.copyMemory(from: buffer) }
        let request: any CollectiveRequest
        do {
            request = try startSend(UnsafeRawBufferPointer(rebasing: copy[0..<buffer.count]), to: destination, tag: tag)
        } catch {
            copy.deallocate()
            throw error
        }
        lock.withLock {
            pendingSends.append((request, copy, destination))
            reapSendsLocked()
        }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws {
        try startReceive(into: buffer, from: source, tag: tag).wait()
    }

    // MARK: Non-blocking

    func startAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws -> any CollectiveRequest {
        let count = try mpiCount(buffer.count, group: name, operation: "allReduce")
        return try nonBlocking(MPICall(kind: .allReduce, byteCount: buffer.count * 4, argument: operation.index),
                               completion: { self.divideIfMean(operation, buffer) }) { request in
            MPI_Iallreduce(tessera_mpi_in_place(), buffer.baseAddress, count, tessera_mpi_float(), operation.mpiOperation, comm, request)
        }
    }

    func startAllGather(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> any CollectiveRequest {
        let count = try allGatherCount(input, output)
        return try nonBlocking(MPICall(kind: .allGather, byteCount: input.count)) { request in
            MPI_Iallgather(input.baseAddress, count, tessera_mpi_byte(), output.baseAddress, count, tessera_mpi_byte(), comm, request)
        }
    }

    func startReduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                            operation: ReduceOperation) throws -> any CollectiveRequest {
        let count = try reduceScatterCount(input, output)
        return try nonBlocking(MPICall(kind: .reduceScatter, byteCount: output.count * 4, argument: operation.index),
                               completion: { self.divideIfMean(operation, output) }) { request in
            MPI_Ireduce_scatter_block(input.baseAddress, output.baseAddress, count, tessera_mpi_float(),
                                      operation.mpiOperation, comm, request)
        }
    }

    /// `MPI_Ialltoallv`; its count and displacement arrays live as long as the request, as MPI requires.
    func startAllToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int],
                       into output: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws -> any CollectiveRequest {
        try CollectiveArguments.checkAllToAll(sendCounts: sendCounts, inputBytes: input.count, receiveCounts: receiveCounts,
                                              outputBytes: output.count, group: name, size: size)
        let send = try int32Layout(sendCounts), receive = try int32Layout(receiveCounts)
        let layout = PinnedInt32s(send.counts + send.offsets + receive.counts + receive.offsets)
        let n = size, p = layout.pointer
        return try nonBlocking(MPICall(kind: .allToAll, byteCount: 0), completion: { withExtendedLifetime(layout) {} }) { request in
            MPI_Ialltoallv(input.baseAddress, p, p + n, tessera_mpi_byte(), output.baseAddress, p + 2 * n, p + 3 * n,
                           tessera_mpi_byte(), comm, request)
        }
    }

    /// Not buffered: the caller keeps `buffer` untouched until `wait()` returns.
    func startSend(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws -> any CollectiveRequest {
        try startMessage("send(to: \(destination), tag: \(tag))", peer: destination, role: "destination", tag: tag,
                         channel: ChannelKey(source: rank, destination: destination, tag: tag), bytes: buffer.count) {
            MPI_Isend(buffer.baseAddress, $0, tessera_mpi_byte(), Int32(destination), Int32(tag), comm, $1)
        }
    }

    func startReceive(into buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws -> any CollectiveRequest {
        try startMessage("receive(from: \(source), tag: \(tag))", peer: source, role: "source", tag: tag,
                         channel: ChannelKey(source: source, destination: rank, tag: tag), bytes: buffer.count,
                         expectsExactSize: true) {
            MPI_Irecv(buffer.baseAddress, $0, tessera_mpi_byte(), Int32(source), Int32(tag), comm, $1)
        }
    }

    // MARK: Lifetime

    /// Waits (at most the deadline) for buffered sends to be received and frees their copies.
    /// - Throws: ``CollectiveError/timeout(group:operation:sequence:missingRanks:deadline:)`` naming the
    ///   ranks that never received a message sent to them.
    func drainSends() throws {
        let deadline = monotonicNanoseconds() &+ self.deadline.nanoseconds
        while !lock.withLock({ reapSendsLocked() }) {
            guard monotonicNanoseconds() < deadline else {
                let unreceived = Set(lock.withLock { pendingSends.map(\.destination) }).sorted()
                throw CollectiveError.timeout(group: name, operation: "finalize: messages sent but never received",
                                              sequence: Int(nextSequence.load()), missingRanks: unreceived, deadline: self.deadline)
            }
            sched_yield()
        }
    }

    /// Frees the MPI communicator (collective; after the last operation).
    func free() {
        var handle: MPI_Comm? = comm
        MPI_Comm_free(&handle)
    }

    // MARK: Plumbing

    /// Runs a blocking MPI call as the next collective, under the watchdog.
    @inline(__always)
    private func blocking(_ call: MPICall, _ body: () -> Int32) throws {
        let sequence = begin(call)
        watch.begin(call, sequence: sequence)
        let code = body()
        watch.end()
        try mpiCheck(code, group: name, operation: "\(call.kind)")
    }

    /// Starts a send or receive as the next message on its channel.
    private func startMessage(_ operation: String, peer: Int, role: String, tag: Int, channel: ChannelKey, bytes: Int,
                              expectsExactSize: Bool = false,
                              _ start: (Int32, UnsafeMutablePointer<MPI_Request?>) -> Int32) throws -> any CollectiveRequest {
        try checkMessage(peer: peer, tag: tag, role: role, operation: operation)
        let count = try mpiCount(bytes, group: name, operation: operation)
        let sequence = takeMessageNumber(channel)
        var request: MPI_Request? = tessera_mpi_request_null()
        try mpiCheck(start(count, &request), group: name, operation: operation)
        return MPIRequest(communicator: self, request: request,
                          expiry: .message(operation: operation, sequence: sequence, peer: peer),
                          expectedBytes: expectsExactSize ? bytes : nil)
    }

    /// Starts a non-blocking collective as number `sequence`.
    private func nonBlocking(_ call: MPICall, completion: (() -> Void)? = nil,
                             _ start: (UnsafeMutablePointer<MPI_Request?>) -> Int32) throws -> any CollectiveRequest {
        let sequence = begin(call)
        var request: MPI_Request? = tessera_mpi_request_null()
        try mpiCheck(start(&request), group: name, operation: "\(call.kind)")
        return MPIRequest(communicator: self, request: request, expiry: .collective(call, sequence: sequence),
                          completion: completion)
    }

    /// Takes the next collective sequence number and notes the call on the arrival board.
    @inline(__always)
    private func begin(_ call: MPICall) -> Int {
        let sequence = Int(nextSequence.add(1))
        arrivals.mark(call, sequence: sequence)
        return sequence
    }

    private func takeMessageNumber(_ key: ChannelKey) -> Int {
        lock.withLock {
            defer { messageCounts[key, default: 0] += 1 }
            return messageCounts[key, default: 0]
        }
    }

    /// Frees the copies of delivered buffered sends; whether none is left. Lock held.
    @discardableResult
    private func reapSendsLocked() -> Bool {
        pendingSends.removeAll { pending in
            guard pending.request.isComplete else { return false }
            pending.copy.deallocate()
            return true
        }
        return pendingSends.isEmpty
    }

    private func divideIfMean(_ operation: ReduceOperation, _ buffer: UnsafeMutableBufferPointer<Float>) {
        guard operation == .mean, let base = buffer.baseAddress else { return }
        Reduction.divide(base, count: buffer.count, by: Float(size))
    }

    private func allGatherCount(_ input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer) throws -> Int32 {
        try CollectiveArguments.checkAllGather(input: input.count, output: output.count, group: name, size: size)
        return try mpiCount(input.count, group: name, operation: "allGather")
    }

    private func reduceScatterCount(_ input: UnsafeBufferPointer<Float>, _ output: UnsafeMutableBufferPointer<Float>) throws -> Int32 {
        try CollectiveArguments.checkReduceScatter(input: input.count, output: output.count, group: name, size: size)
        return try mpiCount(output.count, group: name, operation: "reduceScatter")
    }

    private func checkPeer(_ peer: Int, role: String, operation: String) throws {
        try CollectiveArguments.checkPeer(peer, role: role, group: name, size: size, operation: operation)
    }

    /// MPI's 32-bit counts and displacements for an all-to-all.
    private func int32Layout(_ counts: [Int]) throws -> (counts: [Int32], offsets: [Int32]) {
        let offsets = CollectiveArguments.offsets(counts)
        guard let total = counts.last.map({ $0 + offsets.last! }), total <= Int(Int32.max) else {
            throw CollectiveError.invalidArgument(group: name, operation: "allToAll",
                                                  detail: "all-to-all buffers over 2 GiB exceed MPI's 32-bit displacements")
        }
        return (counts.map { Int32($0) }, offsets.map { Int32($0) })
    }

    private func checkMessage(peer: Int, tag: Int, role: String, operation: String) throws {
        try checkPeer(peer, role: role, operation: operation)
        guard (0...tagUpperBound).contains(tag) else {
            throw CollectiveError.invalidArgument(group: name, operation: operation,
                                                  detail: "tag \(tag) is outside MPI's tag range 0...\(tagUpperBound)")
        }
    }
}

extension ReduceOperation {
    /// Position in `allCases` (recorded on the MPI arrival board).
    var index: Int {
        switch self {
        case .sum: return 0
        case .max: return 1
        case .mean: return 2
        }
    }
}

/// Integers at a fixed address for as long as the object lives (the arrays a non-blocking MPI call reads until it
/// completes).
final class PinnedInt32s {
    let pointer: UnsafeMutablePointer<Int32>

    init(_ values: [Int32]) {
        pointer = .allocate(capacity: max(values.count, 1))
        pointer.initialize(from: values, count: values.count)
    }

    deinit { pointer.deallocate() }
}
