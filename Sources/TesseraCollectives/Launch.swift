import TesseraTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the ranks of a job live.
public enum Backend: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Ranks are threads of this process over shared memory (the embedded default).
    case threads
    /// This process is one rank of an Open MPI job started by `mpirun`.
    case mpi

    /// `mpi` when this process was started by `mpirun` (Open MPI sets `OMPI_COMM_WORLD_SIZE`, PMIx
    /// launchers `PMIX_RANK`), `threads` otherwise. The caller passes the environment in.
    public static func detected(environment: [String: String]) -> Backend {
        environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil ? .mpi : .threads
    }

    /// Parses a `--backend` value; `nil` (flag absent) means ``detected(environment:)``.
    /// - Throws: ``LaunchError/unknownBackend(_:)`` listing the valid names.
    public init(parsing text: String?, environment: [String: String]) throws {
        guard let text else {
            self = Backend.detected(environment: environment)
            return
        }
        guard let backend = Backend(rawValue: text.lowercased()) else { throw LaunchError.unknownBackend(text) }
        self = backend
    }

    public var description: String { rawValue }
}

/// Why ranks could not be launched.
public enum LaunchError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownBackend(String)
    /// The layout needs `required` ranks but the MPI job has `launched`.
    case rankCountMismatch(required: Int, launched: Int)
    case invalidRankCount(Int)

    public var description: String {
        switch self {
        case let .unknownBackend(name):
            return "unknown backend '\(name)'; use --backend threads or --backend mpi"
        case let .rankCountMismatch(required, launched):
            return "the layout needs \(required) ranks but mpirun started \(launched); launch with mpirun -np \(required)"
        case let .invalidRankCount(ranks):
            return "the number of ranks must be at least 1 (got \(ranks))"
        }
    }
}

/// How to start the ranks of a job.
public struct LaunchOptions: Sendable, Equatable {
    public var backend: Backend
    /// Ranks the job needs. Threads: how many to start. MPI: must equal the size of the `mpirun` job
    /// (`nil` accepts any size).
    public var ranks: Int?
    /// The longest any blocking call waits for its peers.
    public var deadline: Duration
    /// Cores shared by the ranks on this machine; each rank gets `cores / ranks here` BLAS threads.
    public var cores: Int

    public init(backend: Backend, ranks: Int? = nil, deadline: Duration = ThreadGroup.defaultDeadline,
                cores: Int = LaunchOptions.onlineCores) {
        self.backend = backend
        self.ranks = ranks
        self.deadline = deadline
        self.cores = cores
    }

    /// Cores online on this machine.
    public static var onlineCores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}

/// Runs a per-rank body on either backend: the one entry point every multi-rank command uses.
public enum Launcher {
    /// Runs `body` once per rank of this process and returns those ranks' results in rank order.
    ///
    /// - Threads: starts `options.ranks` (default 1) threads via ``ThreadGroup/run(ranks:deadline:name:_:)``
    ///   and returns all their results; a failure rethrows the root cause after releasing every rank.
    /// - MPI: this process is one rank of the `mpirun` job; returns its single result after
    ///   ``MPIEnvironment/finalize()``. When the body throws (or a collective passes its deadline) the
    ///   error is printed and the whole job ends with `MPI_Abort`, so this never returns an error from the
    ///   body: peers in other processes could not be released otherwise.
    ///
    /// Before the ranks start, OpenBLAS gets `BLASThreads.perRank(ranks:cores:)` threads, counting the
    /// ranks on this machine.
    /// - Throws: ``LaunchError`` for an invalid rank count or a mismatch with the `mpirun` job size;
    ///   ``CollectiveError`` from the backend.
    public static func run<T: Sendable>(_ options: LaunchOptions,
                                        _ body: @Sendable (any Communicator) throws -> T) throws -> [T] {
        try run(options) { world, _ in try body(world) }
    }

    /// ``run(_:_:)`` that also hands each rank its share of the cores, `computeThreads` (the OpenBLAS
    /// threads it was given: `BLASThreads.perRank(ranks:cores:)` over the ranks on this machine), for the
    /// rank's own ``ComputePool``.
    public static func run<T: Sendable>(_ options: LaunchOptions,
                                        _ body: @Sendable (_ world: any Communicator, _ computeThreads: Int) throws -> T) throws -> [T] {
        let ranks = options.ranks ?? 1
        guard ranks >= 1 else { throw LaunchError.invalidRankCount(ranks) }
        switch options.backend {
        case .threads:
            let threads = BLASThreads.perRank(ranks: ranks, cores: options.cores)
            BLASThreads.set(threads)
            return try ThreadGroup.run(ranks: ranks, deadline: options.deadline) { try body($0, threads) }
        case .mpi:
            let environment = try MPIEnvironment(deadline: options.deadline)
            if let required = options.ranks, required != environment.world.size {
                // Every rank sees the same sizes, so all finalize and throw alike.
                try environment.finalize()
                throw LaunchError.rankCountMismatch(required: required, launched: environment.world.size)
            }
            let threads = BLASThreads.perRank(ranks: environment.localRanks, cores: options.cores)
            BLASThreads.set(threads)
            let result: T
            do {
                result = try body(environment.world, threads)
                try environment.finalize()
            } catch {
                environment.abort(error)
            }
            return [result]
        }
    }
}
