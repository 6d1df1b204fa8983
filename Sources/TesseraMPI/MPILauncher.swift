import TesseraCollectives
import TesseraTensor

/// The MPI backend's ``RankLauncher``: this process is one rank of the Open MPI job that `mpirun` started.
///
/// `run` creates the process's one ``MPIEnvironment``, checks that the job has `options.ranks` ranks (when
/// given), runs `body` on the world group and returns its single result after ``MPIEnvironment/finalize()``.
/// When the body throws (or a collective passes its deadline) the error is printed and the whole job ends
/// with `MPI_Abort`, so `run` never returns an error from the body: peers in other processes could not be
/// released otherwise. Call it at most once per process (MPI can be initialized only once).
public struct MPILauncher: RankLauncher {
    public init() {}

    public var name: String { "mpi" }
    public var hostsAllRanks: Bool { false }

    /// Whether `mpirun` started this process: Open MPI sets `OMPI_COMM_WORLD_SIZE`, PMIx launchers `PMIX_RANK`.
    public func startedThisProcess(environment: [String: String]) -> Bool {
        environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    public func run<T: Sendable>(_ options: LaunchOptions,
                                 _ body: @Sendable (_ world: any Communicator, _ computeThreads: Int) throws -> T) throws -> [T] {
        let required = try options.checkedRanks()
        let environment = try MPIEnvironment(deadline: options.deadline)
        if let required, required != environment.world.size {
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
