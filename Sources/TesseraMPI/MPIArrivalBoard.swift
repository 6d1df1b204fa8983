import CMPI
import TesseraCollectives
#if canImport(Glibc)
import Glibc
#endif

/// Where each rank notes the collective it is in, for every communicator it belongs to, so a rank that
/// times out can name the ranks that did not arrive (and spot one that arrived at a different call).
///
/// One RMA window over the world holds, per rank, `capacity` entries of three Int64: the latest sequence
/// number + 1, the call kind and argument, and the byte count. Each communicator takes the next free
/// entry on each of its members (members exchange their entry numbers once, when the communicator is
/// made). Only the timeout path reads peers' entries, with `MPI_Rget` under a passive `MPI_Win_lock_all`
/// epoch held for the window's lifetime; the one-sided reads are served even when the peer is stuck in a
/// collective or in compute (on one machine Open MPI 4.1 serves `MPI_Win_allocate` windows with `osc/rdma`
/// over the shared-memory BTL's single-copy reads).
///
/// Entering a collective is three plain stores into the window, the sequence number last with release
/// ordering, and no MPI call. In the unified memory model (`MPI_WIN_MODEL` is `MPI_WIN_UNIFIED`, as Open
/// MPI 4.1's `osc/rdma` and `osc/sm` windows are) a local store becomes visible to remote gets eventually
/// without any RMA call (MPI-3.1 §11.4, §11.7), and reads happen only after a deadline of seconds, so that
/// suffices. Only a window in the separate model gets an `MPI_Win_sync` after each mark. That call must
/// stay off the hot path where it can: in `osc/rdma` it runs a pass of the progress engine just before the
/// collective posts its own requests (measured: all-reduce calls up to 1.2× as long at 64 KiB–1 MiB on 2
/// ranks) and, with more ranks than cores, yields the core (6 µs per call on 4 ranks).
final class MPIArrivalBoard: @unchecked Sendable {
    struct Entry {
        var sequence: Int
        var call: MPICall?
    }

    /// Communicators one rank can track; later ones still work but time out without naming ranks.
    static let capacity = 1024
    private static let fields = 3
    private var window: MPI_Win?
    private let base: UnsafeMutablePointer<Int64>
    /// Whether the window is in the separate memory model, where marks need `MPI_Win_sync` to be seen.
    private let needsSync: Bool
    private let lock = Lock()
    private var nextEntry = 0

    /// Creates the window (collective over `world`).
    init(world: MPI_Comm, group: String) throws {
        var pointer: UnsafeMutableRawPointer?
        var window: MPI_Win?
        let count = Self.capacity * Self.fields
        try mpiCheck(withUnsafeMutablePointer(to: &pointer) {
            MPI_Win_allocate(MPI_Aint(count * 8), 8, tessera_mpi_info_null(), world, UnsafeMutableRawPointer($0), &window)
        }, group: group, operation: "arrival board")
        base = pointer!.bindMemory(to: Int64.self, capacity: count)
        base.initialize(repeating: 0, count: count)
        try mpiCheck(MPI_Win_lock_all(tessera_mpi_mode_nocheck(), window), group: group, operation: "arrival board")
        var model: UnsafeMutableRawPointer?
        var found: Int32 = 0
        MPI_Win_get_attr(window, tessera_mpi_win_model(), &model, &found)
        needsSync = found == 0 || model!.load(as: Int32.self) != tessera_mpi_win_unified()
        self.window = window
    }

    /// The next free entry on this rank, or `nil` when all are taken.
    func takeEntry() -> Int? {
        lock.withLock {
            guard nextEntry < Self.capacity else { return nil }
            defer { nextEntry += 1 }
            return nextEntry
        }
    }

    /// Notes that this rank entered `call` at `sequence` on the communicator owning `entry`: plain stores,
    /// no MPI call (unless the window is in the separate memory model).
    @inline(__always)
    func mark(entry: Int, _ call: MPICall, sequence: Int) {
        let record = base + entry * Self.fields
        record[1] = call.kind.rawValue | Int64(call.argument) << 8
        record[2] = Int64(call.byteCount)
        tessera_store_release_int64(record, Int64(sequence + 1))
        if needsSync { MPI_Win_sync(window) }
    }

    /// The entries of `members` (world rank and entry number each), read within `grace`; `nil` for a
    /// member that did not answer in time or has no entry.
    func entries(of members: [(worldRank: Int, entry: Int)], grace: Duration) -> [Entry?] {
        var values = [Int64](repeating: 0, count: members.count * Self.fields)
        var requests = [MPI_Request?](repeating: tessera_mpi_request_null(), count: members.count)
        var answered = members.map { $0.entry < 0 }
        values.withUnsafeMutableBufferPointer { values in
            for (index, member) in members.enumerated() where member.entry >= 0 {
                MPI_Rget(values.baseAddress! + index * Self.fields, Int32(Self.fields), tessera_mpi_int64(),
                         Int32(member.worldRank), MPI_Aint(member.entry * Self.fields), Int32(Self.fields),
                         tessera_mpi_int64(), window, &requests[index])
            }
        }
        let deadline = monotonicNanoseconds() &+ grace.nanoseconds
        while answered.contains(false) && monotonicNanoseconds() < deadline {
            for index in members.indices where !answered[index] {
                var done: Int32 = 0
                MPI_Test(&requests[index], &done, tessera_mpi_status_ignore())
                answered[index] = done != 0
            }
            sched_yield()
        }
        return members.indices.map { index in
            guard answered[index], members[index].entry >= 0 else { return nil }
            let record = Array(values[(index * Self.fields)..<(index * Self.fields + Self.fields)])
            guard record[0] > 0, let kind = MPICall.Kind(rawValue: record[1] & 0xff) else {
                return Entry(sequence: -1, call: nil)
            }
            return Entry(sequence: Int(record[0]) - 1,
                         call: MPICall(kind: kind, byteCount: Int(record[2]), argument: Int(record[1] >> 8)))
        }
    }

    /// Ends the epoch and frees the window (collective over the world).
    func free() {
        guard window != nil else { return }
        MPI_Win_unlock_all(window)
        MPI_Win_free(&window)
    }
}

/// One communicator's view of the arrival board: its own entry and where each member keeps its entry.
struct MPIArrivalView: Sendable {
    let board: MPIArrivalBoard
    /// This rank's entry, or `nil` when the board was full.
    let entry: Int?
    /// Per group rank: world rank and entry number (-1: untracked).
    let members: [(worldRank: Int, entry: Int)]
    let rank: Int

    @inline(__always)
    func mark(_ call: MPICall, sequence: Int) {
        if let entry { board.mark(entry: entry, call, sequence: sequence) }
    }

    /// The error for a call that passed its deadline: a mismatch when a peer sits at the same sequence
    /// number in a different call, otherwise a timeout naming the ranks that are behind or silent.
    func expiryError(group: String, call: MPICall, sequence: Int, deadline: Duration) -> CollectiveError {
        let entries = board.entries(of: members, grace: .seconds(2))
        for peer in members.indices where peer != rank {
            if let entry = entries[peer], entry.sequence == sequence, let other = entry.call, other != call {
                return .mismatch(group: group, operation: "\(call.kind)", sequence: sequence,
                                 detail: "rank \(rank) called \(call.summary), rank \(peer) called \(other.summary)")
            }
        }
        let missing = members.indices.filter { peer in
            guard peer != rank else { return false }
            guard let entry = entries[peer] else { return true }
            return entry.sequence < sequence
        }
        return .timeout(group: group, operation: "\(call.kind)", sequence: sequence, missingRanks: missing, deadline: deadline)
    }
}
