import ArgumentParser
import Foundation
import TesseraCollectives
import TesseraMPI

extension Launchers {
    /// The backends this tool offers: threads (the default) and Open MPI (picked by itself under mpirun).
    /// The CLI is the one place that links both, so the choice is made here and the launcher passed on.
    static let tessera = Launchers([ThreadLauncher(), MPILauncher()])

    /// The launcher `--backend VALUE` names, or with no flag the one that started this process; a wrong
    /// name gets the library's message in flag terms.
    func launcher(forFlag value: String?) throws -> any RankLauncher {
        do {
            return try launcher(named: value, environment: ProcessInfo.processInfo.environment)
        } catch let LaunchError.unknownBackend(name, valid) {
            throw ValidationError("unknown backend '\(name)'; use " + valid.map { "--backend \($0)" }.joined(separator: " or "))
        }
    }
}

/// The launch flags every multi-rank command takes: `--backend threads|mpi` (default: mpi when started by
/// mpirun, threads otherwise) and `--collective-timeout SECONDS`.
struct LaunchArguments: ParsableArguments {
    @Option(help: "Where ranks run: \(Launchers.tessera.names.joined(separator: " or ")) (threads: this process; mpi: one rank per mpirun process). Default: mpi under mpirun, threads otherwise.")
    var backend: String?

    @Option(name: .customLong("collective-timeout"),
            help: "Seconds any collective waits for its peers before failing with the names of the missing ranks.")
    var collectiveTimeout: Double = 300

    func validate() throws {
        _ = try launcher()
        guard collectiveTimeout > 0 else {
            throw ValidationError("--collective-timeout must be positive (got \(collectiveTimeout))")
        }
    }

    /// The launcher to use: the flag's, or the one this process was started for.
    func launcher() throws -> any RankLauncher {
        try Launchers.tessera.launcher(forFlag: backend)
    }

    /// Launch options for a job of `ranks` ranks (`nil`: whatever mpirun started).
    func options(ranks: Int?) -> LaunchOptions {
        LaunchOptions(ranks: ranks, deadline: .milliseconds(Int64(collectiveTimeout * 1000)))
    }
}
