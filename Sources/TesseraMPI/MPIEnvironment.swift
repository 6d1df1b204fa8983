import CMPI
import TesseraCollectives
#if canImport(Glibc)
import Glibc
#endif

/// This process's membership in an MPI job launched by `mpirun`: one rank per process.
///
/// Create exactly one per process (MPI can be initialized only once), use ``world`` and the groups split
/// from it, then call ``finalize()``. Under MPI a failing rank cannot release its peers the way a thread
/// can, so a rank that fails calls ``abort(_:)``: it prints the error and ends the whole job
/// (`MPI_Abort`). A blocking collective that passes its deadline does the same from the watchdog.
public final class MPIEnvironment: @unchecked Sendable {
    /// The world group (a duplicate of `MPI_COMM_WORLD`, so library traffic never meets the caller's).
    public let world: any Communicator
    /// Ranks of the job on this machine (`MPI_Comm_split_type` shared memory), for sharing the cores.
    public let localRanks: Int
    private let context: MPIContext

    /// Initializes MPI with `MPI_THREAD_MULTIPLE` and sets `MPI_ERRORS_RETURN`.
    ///
    /// - Parameter deadline: the longest any blocking call waits for its peers (split groups inherit it).
    /// - Throws: ``CollectiveError/backend(group:operation:detail:)`` when MPI is already initialized in
    ///   this process, when the library does not grant `MPI_THREAD_MULTIPLE`, or on an MPI error.
    public init(deadline: Duration = ThreadGroup.defaultDeadline, name: String = "world") throws {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        guard initialized == 0 else {
            throw CollectiveError.backend(group: name, operation: "MPI_Init_thread",
                                          detail: "MPI is already initialized in this process; create one MPIEnvironment per process")
        }
        var provided: Int32 = 0
        try mpiCheck(MPI_Init_thread(nil, nil, tessera_mpi_thread_multiple(), &provided), group: name, operation: "MPI_Init_thread")
        guard provided >= tessera_mpi_thread_multiple() else {
            MPI_Finalize()
            throw CollectiveError.backend(group: name, operation: "MPI_Init_thread",
                                          detail: "the MPI library granted thread level \(provided), below MPI_THREAD_MULTIPLE; use an Open MPI built with thread support")
        }
        MPI_Comm_set_errhandler(tessera_mpi_comm_world(), tessera_mpi_errors_return())
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(tessera_mpi_comm_world(), &rank)
        MPI_Comm_size(tessera_mpi_comm_world(), &size)
        var local: MPI_Comm? = tessera_mpi_comm_null()
        try mpiCheck(MPI_Comm_split_type(tessera_mpi_comm_world(), tessera_mpi_comm_type_shared(), rank,
                                         tessera_mpi_info_null(), &local), group: name, operation: "MPI_Comm_split_type")
        var localSize: Int32 = 1
        MPI_Comm_size(local, &localSize)
        MPI_Comm_free(&local)
        localRanks = Int(localSize)
        // The watchdog looks often enough to end a hung call within an eighth of the deadline.
        let period = min(deadline / 8, .seconds(1))
        let (worldRank, worldSize) = (Int(rank), Int(size))
        var duplicate: MPI_Comm? = tessera_mpi_comm_null()
        try mpiCheck(MPI_Comm_dup(tessera_mpi_comm_world(), &duplicate), group: name, operation: "MPI_Comm_dup")
        let watchdog = MPIWatchdog(period: period) { error in
            MPIEnvironment.abortJob(rank: worldRank, size: worldSize, error)
        }
        context = MPIContext(watchdog: watchdog, board: try MPIArrivalBoard(world: duplicate!, group: name))
        world = try context.adopt(duplicate!, name: name, deadline: deadline)
    }

    /// Ends the job's use of MPI: waits (with the deadline) for buffered sends, meets every rank in a final
    /// barrier (so a rank still busy elsewhere is named rather than waited for in silence), frees the
    /// groups and calls `MPI_Finalize`. Every rank must call it once, after its last operation.
    public func finalize() throws {
        try context.finalize()
    }

    /// Prints `error` as this rank's failure and aborts the whole job with `MPI_Abort`.
    public func abort(_ error: any Error) -> Never {
        MPIEnvironment.abortJob(rank: world.rank, size: world.size, error)
    }

    static func abortJob(rank: Int, size: Int, _ error: any Error) -> Never {
        let message = Array("tessera: rank \(rank) of \(size) failed: \(error); aborting the MPI job\n".utf8)
        _ = message.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        MPI_Abort(tessera_mpi_comm_world(), 1)
        exit(1)
    }
}

/// What every communicator of one ``MPIEnvironment`` shares: the watchdog, the arrival board and the
/// list of communicators to free, in creation order, at the end.
final class MPIContext: @unchecked Sendable {
    let watchdog: MPIWatchdog
    let board: MPIArrivalBoard
    private let lock = Lock()
    private var communicators: [MPICommunicator] = []

    init(watchdog: MPIWatchdog, board: MPIArrivalBoard) {
        self.watchdog = watchdog
        self.board = board
    }

    /// Wraps a new MPI communicator (collective over it) and remembers it for ``finalize()``.
    func adopt(_ comm: MPI_Comm, name: String, deadline: Duration) throws -> MPICommunicator {
        let communicator = try MPICommunicator(context: self, comm: comm, name: name, deadline: deadline)
        lock.withLock { communicators.append(communicator) }
        watchdog.watch(communicator)
        return communicator
    }

    func finalize() throws {
        let all = lock.withLock { communicators }
        for communicator in all { try communicator.drainSends() }
        try all[0].barrier()
        watchdog.stop()
        // Every rank created its groups in the same collective order; free them in reverse.
        board.free()
        for communicator in all.reversed() { communicator.free() }
        MPI_Finalize()
    }
}
