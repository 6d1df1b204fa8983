import TesseraTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why ranks could not be launched.
public enum LaunchError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No launcher has this name; `valid` lists the names there are.
    case unknownBackend(String, valid: [String])
    /// The layout needs `required` ranks but the job that started this process has `launched`.
    case rankCountMismatch(required: Int, launched: Int)
    case invalidRankCount(Int)

    public var description: String {
        switch self {
        case let .unknownBackend(name, valid):
            return "unknown backend '\(name)'; the backends are \(valid.joined(separator: ", "))"
        case let .rankCountMismatch(required, launched):
            return "the layout needs \(required) ranks but mpirun started \(launched); launch with mpirun -np \(required)"
        case let .invalidRankCount(ranks):
            return "the number of ranks must be at least 1 (got \(ranks))"
        }
    }
}

/// How to start the ranks of a job, whatever the backend.
public struct LaunchOptions: Sendable, Equatable {
    /// Ranks the job needs. A launcher that starts its ranks (threads): how many to start. One that joins
    /// ranks started outside (MPI): must equal the size of that job (`nil` accepts any size).
    public var ranks: Int?
    /// The longest any blocking call waits for its peers.
    public var deadline: Duration
    /// Cores shared by the ranks on this machine; each rank gets `cores / ranks here` BLAS threads.
    public var cores: Int

    public init(ranks: Int? = nil, deadline: Duration = ThreadGroup.defaultDeadline,
                cores: Int = LaunchOptions.onlineCores) {
        self.ranks = ranks
        self.deadline = deadline
        self.cores = cores
    }

    /// Cores online on this machine.
    public static var onlineCores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// ``ranks``, or ``LaunchError/invalidRankCount(_:)`` when it is below 1; `nil` stays `nil`.
    public func checkedRanks() throws -> Int? {
        if let ranks, ranks < 1 { throw LaunchError.invalidRankCount(ranks) }
        return ranks
    }
}

/// A backend's way of starting the ranks of a job and running a body on each: the one entry point every
/// multi-rank program uses. The program passes the launcher in (``ThreadLauncher`` here; the Open MPI one
/// lives in the `TesseraMPI` target, so that nothing else links libmpi); ``Launchers`` picks one by name.
///
/// A CUDA/NCCL backend would be one more conforming type: it starts (or joins) one rank per device and
/// hands each its communicator.
public protocol RankLauncher: Sendable {
    /// The backend's name as a user writes it (`threads`, `mpi`), lowercase.
    var name: String { get }
    /// Whether every rank of the job runs in this process (so ranks can share in-memory objects such as
    /// one trace recorder, and ``LaunchOptions/ranks`` says how many to start), rather than this process
    /// being one rank of a job started outside it.
    var hostsAllRanks: Bool { get }

    /// Whether `environment` shows that this process was started by the backend's own launcher program
    /// (e.g. `mpirun`), so that the backend should be used when none is named.
    func startedThisProcess(environment: [String: String]) -> Bool

    /// Runs `body` once per rank of this process and returns those ranks' results in rank order.
    ///
    /// Before the ranks start, OpenBLAS gets `BLASThreads.perRank(ranks:cores:)` threads, counting the ranks
    /// on this machine, and each rank is handed that count as `computeThreads` for its own ``ComputePool``.
    /// - Throws: ``LaunchError`` for an invalid rank count or a mismatch with the job's size;
    ///   ``CollectiveError`` from the backend; an error from `body`, as the backend documents.
    func run<T: Sendable>(_ options: LaunchOptions,
                          _ body: @Sendable (_ world: any Communicator, _ computeThreads: Int) throws -> T) throws -> [T]
}

extension RankLauncher {
    /// ``run(_:_:)`` for a body that does not need its share of the cores.
    public func run<T: Sendable>(_ options: LaunchOptions,
                                 _ body: @Sendable (any Communicator) throws -> T) throws -> [T] {
        try run(options) { world, _ in try body(world) }
    }
}
