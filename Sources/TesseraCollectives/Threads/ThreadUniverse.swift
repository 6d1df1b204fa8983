/// Everything shared by the ranks of one ``ThreadGroup/run(ranks:deadline:name:_:)``: one lock that guards
/// all of its groups, the root failure, which ranks have left, and the progress engines to stop at the end.
///
/// One lock for the whole universe keeps the fault logic simple (a failure is visible to every group at
/// once); critical sections only book-keep, data moves outside the lock.
final class ThreadUniverse: @unchecked Sendable {
    /// The first error of the run and the world rank that raised it.
    struct Failure {
        let worldRank: Int
        let error: any Error
    }

    let lock = Lock()
    let size: Int
    // Guarded by `lock`:
    private(set) var failure: Failure?
    private(set) var exited: [Bool]
    private(set) var isClosed = false
    private var signals: [Signal] = []
    private var engines: [ProgressEngine] = []

    init(size: Int) {
        self.size = size
        self.exited = Array(repeating: false, count: size)
    }

    /// Registers a group's signal so failures and exits wake its waiters. Lock held.
    func registerLocked(_ signal: Signal) { signals.append(signal) }

    /// Registers a progress engine to stop when the universe closes. Lock held.
    func registerLocked(_ engine: ProgressEngine) { engines.append(engine) }

    /// Records `error` as the root failure unless one is already recorded, and wakes every waiter.
    /// Lock held.
    func failLocked(worldRank: Int, error: any Error) {
        guard failure == nil else { return }
        failure = Failure(worldRank: worldRank, error: error)
        wakeAllLocked()
    }

    /// Marks a rank whose body has returned or thrown; peers waiting for it are released. Lock held.
    func markExitedLocked(worldRank: Int) {
        exited[worldRank] = true
        wakeAllLocked()
    }

    /// Ends the universe: queued non-blocking work fails fast, then the progress threads are joined.
    func close() {
        let stopping = lock.withLock {
            isClosed = true
            wakeAllLocked()
            for engine in engines { engine.stopLocked() }
            return engines
        }
        for engine in stopping { engine.join() }
    }

    private func wakeAllLocked() {
        for signal in signals { signal.notifyLocked() }
    }
}

/// What one rank asked for at one sequence number; ranks must agree on it.
struct CallSignature: Equatable {
    var operation: String
    /// Bytes every rank must agree on; `nil` where sizes legitimately differ per rank (checked otherwise).
    var byteCount: Int?
    /// Operation arguments that must agree (the reduce operation, the root).
    var arguments: String = ""

    var summary: String {
        let arguments = self.arguments.isEmpty ? "" : "(\(self.arguments))"
        return "\(operation)\(arguments)" + (byteCount.map { " of \($0) bytes" } ?? "")
    }
}

/// The meeting point of one collective call: every rank publishes its buffers here, then works on its
/// share of the data while it can read its peers' buffers.
final class CollectiveSlot {
    let size: Int
    let sequence: Int
    var signatures: [CallSignature?]
    var inputs: [UnsafeRawPointer?]
    var outputs: [UnsafeMutableRawPointer?]
    /// Per-rank integers an operation needs to agree on (split colours and keys, all-to-all counts).
    var parameters: [[Int]]
    /// Per-rank names (the names split callers give their new groups).
    var labels: [String]
    var arrivedCount = 0
    /// The rank whose arrival completed the slot.
    var lastArrival: Int?
    var phaseCounts: [Int] = []
    var mismatch: String?
    /// The groups a split creates, by colour, and each old rank's new rank (filled by the first rank out).
    var splitGroups: [Int: ThreadGroupState]?
    var splitRanks: [Int] = []
    /// Copies of the ranks' buffers, `size` rows of `stagedCount` floats in rank order (a small all-reduce reads
    /// these, not its peers' buffers, so a rank may return and reuse its buffer at once); freed with the slot.
    private(set) var staged: UnsafeMutablePointer<Float>?
    private var stagedCount = 0

    init(size: Int, sequence: Int) {
        self.size = size
        self.sequence = sequence
        signatures = Array(repeating: nil, count: size)
        inputs = Array(repeating: nil, count: size)
        outputs = Array(repeating: nil, count: size)
        parameters = Array(repeating: [], count: size)
        labels = Array(repeating: "", count: size)
    }

    deinit { staged?.deallocate() }

    var missingRanks: [Int] { (0..<size).filter { signatures[$0] == nil } }

    /// Copies `values` into row `rank` of ``staged`` (allocated by the first rank in; every rank's `values.count`
    /// is the same, as the call signature checks). Lock held.
    func stage(_ values: UnsafeBufferPointer<Float>, rank: Int) {
        if staged == nil {
            stagedCount = values.count
            staged = .allocate(capacity: size * values.count)
        }
        precondition(values.count == stagedCount, "ranks staged \(stagedCount) and \(values.count) floats")
        if let source = values.baseAddress { (staged! + rank * stagedCount).initialize(from: source, count: stagedCount) }
    }
}

/// One group of the threads backend, shared by its members' communicators.
final class ThreadGroupState: @unchecked Sendable {
    let universe: ThreadUniverse
    let name: String
    /// World ranks of the members, in group-rank order.
    let members: [Int]
    let deadline: Duration
    /// Wakes the group's waiters (ranks and their progress engines) on any change.
    let signal = Signal()
    // Guarded by `universe.lock`:
    var slots: [Int: CollectiveSlot] = [:]
    var channels: [ChannelKey: Channel] = [:]

    /// Call with the universe lock held.
    init(universe: ThreadUniverse, name: String, members: [Int], deadline: Duration) {
        self.universe = universe
        self.name = name
        self.members = members
        self.deadline = deadline
        universe.registerLocked(signal)
    }

    var size: Int { members.count }

    /// Nanosecond deadline for a wait starting now.
    func deadlineFromNow() -> UInt64 {
        let (sum, overflow) = monotonicNanoseconds().addingReportingOverflow(deadline.nanoseconds)
        return overflow ? .max : sum
    }

    /// The error a rank gets when the universe has already failed or finished; `nil` otherwise. Lock held.
    func releaseErrorLocked(operation: String, sequence: Int) -> CollectiveError? {
        if let failure = universe.failure {
            return .peerFailed(group: name, operation: operation, sequence: sequence,
                               rank: failure.worldRank, reason: "\(failure.error)")
        }
        if universe.isClosed {
            return .peerFailed(group: name, operation: operation, sequence: sequence, rank: -1,
                               reason: "the thread group has finished; communicators cannot be used after ThreadGroup.run returns")
        }
        return nil
    }

    /// The first member among `ranks` (group ranks) whose body has already returned, if any. Lock held.
    func exitedRankLocked(among ranks: [Int]) -> Int? {
        ranks.first { universe.exited[members[$0]] }
    }

    /// Records `error`, raised by group rank `rank`, as the universe's root failure and returns it. Lock held.
    func failLocked(rank: Int, _ error: CollectiveError) -> CollectiveError {
        universe.failLocked(worldRank: members[rank], error: error)
        return error
    }
}
