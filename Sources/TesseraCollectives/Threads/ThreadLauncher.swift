import TesseraTensor

/// The threads backend's ``RankLauncher``: starts `options.ranks` (default 1) ranks as dedicated threads of
/// this process through ``ThreadGroup/run(ranks:deadline:name:_:)``. A failure rethrows the root cause after
/// every rank has been released. The embedded default: it needs nothing but this process.
public struct ThreadLauncher: RankLauncher {
    public init() {}

    public var name: String { "threads" }
    public var hostsAllRanks: Bool { true }

    /// Always `false`: nothing outside this process starts thread ranks.
    public func startedThisProcess(environment: [String: String]) -> Bool { false }

    public func run<T: Sendable>(_ options: LaunchOptions,
                                 _ body: @Sendable (_ world: any Communicator, _ computeThreads: Int) throws -> T) throws -> [T] {
        let ranks = try options.checkedRanks() ?? 1
        let threads = BLASThreads.perRank(ranks: ranks, cores: options.cores)
        BLASThreads.set(threads)
        return try ThreadGroup.run(ranks: ranks, deadline: options.deadline) { try body($0, threads) }
    }
}
