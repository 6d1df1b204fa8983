import ArgumentParser
import TesseraCollectives
#if canImport(Glibc)
import Glibc
#endif

/// `tessera collective-checks`: runs ``CollectiveConformance`` on the chosen backend (hidden; used by
/// `make test-mpi` under `mpirun -np 2…8`), or provokes one fault that must end the job with a named error.
struct CollectiveChecks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collective-checks",
        abstract: "Run the collective conformance checks on this group of ranks (used by make test-mpi).",
        shouldDisplay: false)

    enum Fault: String, ExpressibleByArgument, CaseIterable {
        /// Rank 1 stalls past the deadline before an all-reduce: the others time out naming rank 1.
        case timeout
        /// Rank 1 throws: under MPI the job aborts with its error printed.
        case `throw`
        /// Rank 0 all-reduces while rank 1 enters a barrier: reported as a mismatch (or a timeout).
        case mismatch
        /// Rank 0 waits for a message rank 1 never sends.
        case receive
        /// In the group of odd world ranks, world rank 3 (its rank 1) stalls: world rank 1 names it.
        case subgroup
    }

    @OptionGroup var launch: LaunchArguments

    @Option(help: "Threads backend: number of ranks.")
    var ranks: Int = 4

    @Option(help: "Provoke a fault instead of running the checks: \(Fault.allCases.map(\.rawValue).joined(separator: ", ")).")
    var fault: Fault?

    func run() throws {
        let launcher = try launch.launcher()
        let fault = self.fault, backend = launcher.name
        _ = try launcher.run(launch.options(ranks: launcher.hostsAllRanks ? ranks : nil)) { world in
            if let fault { try Self.provoke(fault, world) }
            let names = try CollectiveConformance.run(on: world)
            if world.rank == 0 {
                print("collective checks passed on \(backend) with \(world.size) ranks: \(names.joined(separator: ", "))")
            }
        }
    }

    struct DeliberateFailure: Error, CustomStringConvertible {
        var description: String { "deliberate failure on rank 1 (collective-checks --fault throw)" }
    }

    static func provoke(_ fault: Fault, _ world: any Communicator) throws {
        var buffer = [Float](repeating: 1, count: 16)
        try buffer.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: .sum) }
        let stall = world.deadline * 3
        switch fault {
        case .timeout:
            if world.rank == 1 { try sleep(stall) }
            try buffer.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: .sum) }
        case .throw:
            if world.rank == 1 { throw DeliberateFailure() }
            try world.barrier()
        case .mismatch:
            if world.rank == 1 { try world.barrier() } else {
                try buffer.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: .sum) }
            }
        case .subgroup:
            let odd = try world.split(color: world.rank % 2, key: world.rank, name: "parity")!
            if world.rank == 1 {
                try buffer.withUnsafeMutableBufferPointer { try odd.allReduce($0, operation: .sum) }
            } else {
                try sleep(stall)
            }
        case .receive:
            if world.rank == 0 {
                try buffer.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: 1, tag: 99) }
            } else {
                try sleep(stall)
            }
        }
        throw ValidationError("fault '\(fault.rawValue)' was not detected within the deadline")
    }

    private static func sleep(_ duration: Duration) throws {
        let (seconds, attoseconds) = duration.components
        usleep(UInt32(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
    }
}
