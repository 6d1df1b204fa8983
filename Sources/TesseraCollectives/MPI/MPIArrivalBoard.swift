import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// Where each rank of an MPI communicator notes the collective it is in, so a rank that times out can
/// name the ranks that did not arrive (and spot a rank that arrived at a different collective).
///
/// An RMA window holds three Int64 per rank: its latest sequence number + 1, the call kind and argument,
/// and the byte count. Entering a collective is a local store and an `MPI_Win_sync` (a memory fence,
/// nothing on the wire). Only the timeout path reads the peers' entries, with `MPI_Rget` under a passive
/// `MPI_Win_lock_all` epoch held for the window's lifetime; on one machine Open MPI's `osc/sm` serves
/// those reads from shared memory even when the peer is stuck in compute.
final class MPIArrivalBoard: @unchecked Sendable {
    struct Entry {
        var sequence: Int
        var call: MPICall?
    }

    private static let fields = 3
    private var window: MPI_Win?
    private let base: UnsafeMutablePointer<Int64>
    private let rank: Int
    private let size: Int

    /// Creates the window (collective over `comm`).
    init(comm: MPI_Comm, rank: Int, size: Int, group: String) throws {
        self.rank = rank
        self.size = size
        var pointer: UnsafeMutableRawPointer?
        var window: MPI_Win?
        let bytes = MPI_Aint(Self.fields * MemoryLayout<Int64>.size)
        try mpiCheck(withUnsafeMutablePointer(to: &pointer) {
            MPI_Win_allocate(bytes, 8, tessera_mpi_info_null(), comm, UnsafeMutableRawPointer($0), &window)
        }, group: group, operation: "arrival board")
        base = pointer!.bindMemory(to: Int64.self, capacity: Self.fields)
        base.initialize(repeating: 0, count: Self.fields)
        try mpiCheck(MPI_Win_lock_all(tessera_mpi_mode_nocheck(), window), group: group, operation: "arrival board")
        self.window = window
    }

    /// Notes that this rank entered `call` at `sequence`.
    @inline(__always)
    func mark(_ call: MPICall, sequence: Int) {
        base[1] = call.kind.rawValue | Int64(call.argument) << 8
        base[2] = Int64(call.byteCount)
        base[0] = Int64(sequence + 1)
        MPI_Win_sync(window)
    }

    /// Every rank's entry, read within `grace`; `nil` for a rank that did not answer in time.
    func entries(grace: Duration) -> [Entry?] {
        var values = [Int64](repeating: 0, count: size * Self.fields)
        var requests = [MPI_Request?](repeating: tessera_mpi_request_null(), count: size)
        values.withUnsafeMutableBufferPointer { values in
            for peer in 0..<size {
                MPI_Rget(values.baseAddress! + peer * Self.fields, Int32(Self.fields), tessera_mpi_int64(), Int32(peer),
                         0, Int32(Self.fields), tessera_mpi_int64(), window, &requests[peer])
            }
        }
        var answered = [Bool](repeating: false, count: size)
        let deadline = monotonicNanoseconds() &+ grace.nanoseconds
        while answered.contains(false) && monotonicNanoseconds() < deadline {
            for peer in 0..<size where !answered[peer] {
                var done: Int32 = 0
                MPI_Test(&requests[peer], &done, tessera_mpi_status_ignore())
                answered[peer] = done != 0
            }
            sched_yield()
        }
        return (0..<size).map { peer in
            guard answered[peer] else { return nil }
            let record = values[(peer * Self.fields)..<(peer * Self.fields + Self.fields)].map { $0 }
            guard record[0] > 0, let kind = MPICall.Kind(rawValue: record[1] & 0xff) else {
                return Entry(sequence: -1, call: nil)
            }
            return Entry(sequence: Int(record[0]) - 1,
                         call: MPICall(kind: kind, byteCount: Int(record[2]), argument: Int(record[1] >> 8)))
        }
    }

    /// The error for a call that passed its deadline: a mismatch when a peer sits at the same sequence
    /// number in a different call, otherwise a timeout naming the ranks that are behind (or silent).
    func expiryError(group: String, call: MPICall, sequence: Int, deadline: Duration,
                     waitingFor peers: [Int]? = nil) -> CollectiveError {
        let entries = self.entries(grace: .seconds(2))
        let candidates = peers ?? Array(0..<size)
        for peer in candidates where peer != rank {
            if let entry = entries[peer], entry.sequence == sequence, let other = entry.call, other != call {
                return .mismatch(group: group, operation: "\(call.kind)", sequence: sequence,
                                 detail: "rank \(rank) called \(call.summary), rank \(peer) called \(other.summary)")
            }
        }
        let missing = candidates.filter { peer in
            guard peer != rank else { return false }
            guard let entry = entries[peer] else { return true }
            return entry.sequence < sequence
        }
        return .timeout(group: group, operation: "\(call.kind)", sequence: sequence, missingRanks: missing, deadline: deadline)
    }

    /// Ends the epoch and frees the window (collective).
    func free() {
        guard window != nil else { return }
        MPI_Win_unlock_all(window)
        MPI_Win_free(&window)
    }
}
