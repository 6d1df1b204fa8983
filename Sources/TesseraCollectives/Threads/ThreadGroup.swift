/// The threads backend's launcher: N ranks as dedicated threads of this process, over shared memory.
///
/// ```swift
/// let sums = try ThreadGroup.run(ranks: 4, deadline: .seconds(30)) { world in
///     var x: [Float] = [Float(world.rank)]
///     try x.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: .sum) }
///     return x[0]
/// }   // [6, 6, 6, 6]
/// ```
public enum ThreadGroup {
    /// The deadline communicators get unless told otherwise: long enough for any sane step, short enough
    /// that a hung job says so within minutes.
    public static let defaultDeadline: Duration = .seconds(300)

    /// Runs `body` on `ranks` dedicated threads, each with its rank's communicator on the world group
    /// named `name`, and returns every rank's result in rank order.
    ///
    /// When a rank throws (or a collective fails on a timeout or mismatch), every peer blocked in a
    /// collective is released at once with ``CollectiveError/peerFailed(group:operation:sequence:rank:reason:)``
    /// and `run` rethrows the first error, the root cause, after all threads have finished. A rank that
    /// returns while peers still wait for it in a collective releases them the same way. Communicators
    /// must not be used after `run` returns.
    ///
    /// - Parameters:
    ///   - ranks: number of ranks (threads), at least 1.
    ///   - deadline: the longest any blocking call waits for its peers (inherited by split groups).
    /// - Throws: ``CollectiveError/invalidArgument(group:operation:detail:)`` for fewer than one rank or a
    ///   non-positive deadline; otherwise the root-cause error of a failed run.
    public static func run<T: Sendable>(
        ranks: Int, deadline: Duration = defaultDeadline, name: String = "world",
        _ body: @Sendable (any Communicator) throws -> T
    ) throws -> [T] {
        guard ranks >= 1 else {
            throw CollectiveError.invalidArgument(group: name, operation: "ThreadGroup.run",
                                                  detail: "ranks must be at least 1 (got \(ranks))")
        }
        guard deadline > .zero else {
            throw CollectiveError.invalidArgument(group: name, operation: "ThreadGroup.run",
                                                  detail: "the deadline must be positive (got \(deadline))")
        }
        let universe = ThreadUniverse(size: ranks)
        let world = universe.lock.withLock {
            ThreadGroupState(universe: universe, name: name, members: Array(0..<ranks), deadline: deadline)
        }
        let results = RankResults<T>(count: ranks, lock: universe.lock)
        try withoutActuallyEscaping(body) { body in
            let body = UncheckedSendable(body)
            let threads = (0..<ranks).map { rank in
                DedicatedThread {
                    let communicator = ThreadCommunicator(group: world, rank: rank)
                    do {
                        results.store(try body.value(communicator), rank: rank)
                    } catch {
                        universe.lock.withLock { universe.failLocked(worldRank: rank, error: error) }
                    }
                    universe.lock.withLock { universe.markExitedLocked(worldRank: rank) }
                }
            }
            for thread in threads { thread.join() }
            universe.close()
            if let failure = universe.lock.withLock({ universe.failure }) { throw failure.error }
        }
        return results.values
    }
}

/// The ranks' return values, written once each by their threads.
private final class RankResults<T>: @unchecked Sendable {
    private let lock: Lock
    private var slots: [T?]

    init(count: Int, lock: Lock) {
        self.lock = lock
        slots = Array(repeating: nil, count: count)
    }

    func store(_ value: T, rank: Int) { lock.withLock { slots[rank] = value } }

    /// All values; call only after every rank returned normally.
    var values: [T] { lock.withLock { slots.map { $0! } } }
}
