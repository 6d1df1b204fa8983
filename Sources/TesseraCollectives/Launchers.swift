/// The backends a program offers, by name: the value a command-line tool or server consults to turn a
/// `--backend` choice (or its absence) into a ``RankLauncher``. Built by the program, which is the one place
/// that sees every backend target (e.g. `Launchers([ThreadLauncher(), MPILauncher()])` in the CLI).
public struct Launchers: Sendable {
    /// The launchers in order of preference; the first is the default.
    public let all: [any RankLauncher]

    /// - Parameter launchers: at least one, with distinct names; the first is the default.
    public init(_ launchers: [any RankLauncher]) {
        precondition(!launchers.isEmpty, "Launchers needs at least one launcher")
        precondition(Set(launchers.map(\.name)).count == launchers.count, "launcher names must be distinct")
        all = launchers
    }

    /// The launchers' names, in order.
    public var names: [String] { all.map(\.name) }

    /// The launcher called `name` (any case). With no name: the first launcher that started this process
    /// (``RankLauncher/startedThisProcess(environment:)``, e.g. MPI under `mpirun`), else the default.
    /// - Parameter environment: this process's environment, passed in (e.g. `ProcessInfo.processInfo.environment`).
    /// - Throws: ``LaunchError/unknownBackend(_:valid:)`` listing the names there are.
    public func launcher(named name: String?, environment: [String: String]) throws -> any RankLauncher {
        guard let name else {
            return all.first { $0.startedThisProcess(environment: environment) } ?? all[0]
        }
        guard let launcher = all.first(where: { $0.name == name.lowercased() }) else {
            throw LaunchError.unknownBackend(name, valid: names)
        }
        return launcher
    }
}
