import Testing
import TesseraCollectives

@Suite(.serialized) struct LaunchTests {
    @Test func backendDefaultsToMPIOnlyUnderMPIRun() throws {
        #expect(Backend.detected(environment: [:]) == .threads)
        #expect(Backend.detected(environment: ["OMPI_COMM_WORLD_SIZE": "4"]) == .mpi)
        #expect(Backend.detected(environment: ["PMIX_RANK": "0"]) == .mpi)
        #expect(try Backend(parsing: nil, environment: ["OMPI_COMM_WORLD_SIZE": "2"]) == .mpi)
        #expect(try Backend(parsing: "MPI", environment: [:]) == .mpi)
        #expect(try Backend(parsing: "threads", environment: ["PMIX_RANK": "1"]) == .threads)
        #expect(throws: LaunchError.unknownBackend("nccl")) { try Backend(parsing: "nccl", environment: [:]) }
        #expect(LaunchError.unknownBackend("nccl").description.contains("--backend threads or --backend mpi"))
    }

    /// (The BLAS thread count it sets is process-wide, and other suites change it concurrently, so it is
    /// not asserted here.)
    @Test func threadsLaunchRunsEveryRank() throws {
        let ranks = try Launcher.run(LaunchOptions(backend: .threads, ranks: 3, deadline: .seconds(10), cores: 6)) { world in
            (world.rank, world.size)
        }
        #expect(ranks.map(\.0) == [0, 1, 2])
        #expect(ranks.allSatisfy { $0.1 == 3 })
        #expect(throws: LaunchError.invalidRankCount(0)) {
            _ = try Launcher.run(LaunchOptions(backend: .threads, ranks: 0)) { _ in 0 }
        }
    }
}
