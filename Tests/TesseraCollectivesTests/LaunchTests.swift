import Testing
import TesseraCollectives

/// A launcher that runs nothing and claims the processes whose environment has `variable`: the shape of the
/// MPI launcher (whose own check, `OMPI_COMM_WORLD_SIZE`/`PMIX_RANK`, scripts/test-mpi.sh exercises under
/// mpirun), without linking libmpi into the core tests.
private struct StubLauncher: RankLauncher {
    var name: String
    var variable: String
    var hostsAllRanks: Bool { false }
    func startedThisProcess(environment: [String: String]) -> Bool { environment[variable] != nil }
    func run<T: Sendable>(_ options: LaunchOptions,
                          _ body: @Sendable (any Communicator, Int) throws -> T) throws -> [T] { [] }
}

@Suite(.serialized) struct LaunchTests {
    private let launchers = Launchers([ThreadLauncher(), StubLauncher(name: "mpi", variable: "OMPI_COMM_WORLD_SIZE")])

    @Test func backendDefaultsToTheLauncherThatStartedTheProcess() throws {
        #expect(try launchers.launcher(named: nil, environment: [:]).name == "threads")
        #expect(try launchers.launcher(named: nil, environment: ["OMPI_COMM_WORLD_SIZE": "4"]).name == "mpi")
        #expect(try launchers.launcher(named: "MPI", environment: [:]).name == "mpi")
        #expect(try launchers.launcher(named: "threads", environment: ["OMPI_COMM_WORLD_SIZE": "2"]).name == "threads")
        #expect(ThreadLauncher().startedThisProcess(environment: ["OMPI_COMM_WORLD_SIZE": "2", "PMIX_RANK": "0"]) == false)
        #expect(launchers.names == ["threads", "mpi"])
    }

    /// The library names the backends there are, in its own words: flag advice is the CLI's.
    @Test func unknownBackendListsTheValidNames() throws {
        #expect(throws: LaunchError.unknownBackend("nccl", valid: ["threads", "mpi"])) {
            try launchers.launcher(named: "nccl", environment: [:])
        }
        let message = LaunchError.unknownBackend("nccl", valid: ["threads", "mpi"]).description
        #expect(message == "unknown backend 'nccl'; the backends are threads, mpi")
        #expect(!message.contains("--"))
    }

    /// (The BLAS thread count it sets is process-wide, and other suites change it concurrently, so it is
    /// not asserted here.)
    @Test func threadsLaunchRunsEveryRank() throws {
        let launcher = ThreadLauncher()
        #expect(launcher.hostsAllRanks)
        let ranks = try launcher.run(LaunchOptions(ranks: 3, deadline: .seconds(10), cores: 6)) { world in
            (world.rank, world.size)
        }
        #expect(ranks.map(\.0) == [0, 1, 2])
        #expect(ranks.allSatisfy { $0.1 == 3 })
        let shares = try launcher.run(LaunchOptions(ranks: 2, deadline: .seconds(10), cores: 6)) { _, threads in threads }
        #expect(shares == [3, 3])
        #expect(throws: LaunchError.invalidRankCount(0)) {
            _ = try launcher.run(LaunchOptions(ranks: 0)) { _ in 0 }
        }
    }
}
