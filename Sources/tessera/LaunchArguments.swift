import ArgumentParser
import Foundation
import TesseraCollectives

extension Backend: ExpressibleByArgument {}

/// The launch flags every multi-rank command takes: `--backend threads|mpi` (default: mpi when started by
/// mpirun, threads otherwise) and `--collective-timeout SECONDS`.
struct LaunchArguments: ParsableArguments {
    @Option(help: "Where ranks run: threads (this process) or mpi (one rank per mpirun process). Default: mpi under mpirun, threads otherwise.")
    var backend: Backend?

    @Option(name: .customLong("collective-timeout"),
            help: "Seconds any collective waits for its peers before failing with the names of the missing ranks.")
    var collectiveTimeout: Double = 300

    /// The backend to use: the flag, or the one this process was started for.
    func resolvedBackend() -> Backend {
        backend ?? Backend.detected(environment: ProcessInfo.processInfo.environment)
    }

    /// Launch options for a job of `ranks` ranks (`nil`: whatever mpirun started).
    func options(ranks: Int?) throws -> LaunchOptions {
        guard collectiveTimeout > 0 else {
            throw ValidationError("--collective-timeout must be positive (got \(collectiveTimeout))")
        }
        return LaunchOptions(backend: resolvedBackend(), ranks: ranks,
                             deadline: .milliseconds(Int64(collectiveTimeout * 1000)))
    }
}
