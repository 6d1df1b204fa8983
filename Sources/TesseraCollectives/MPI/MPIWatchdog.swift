import CMPI

/// Enforces deadlines on blocking MPI collectives.
///
/// A blocking collective runs as the native call (`MPI_Allreduce`, …): Open MPI's non-blocking
/// collectives (libnbc) are several times slower at small and medium sizes, and a blocking call cannot be
/// cancelled. So each call registers here while it runs, and this thread, waking every `period`, ends the
/// job when one passes its deadline: it prints the named timeout (group, operation, sequence number,
/// missing ranks from the arrival board) and calls `MPI_Abort`. That is what the launcher does with any
/// error under MPI, so the only difference from a thrown timeout is that no caller can catch it.
final class MPIWatchdog: @unchecked Sendable {
    struct Watch {
        let communicator: MPICommunicator
        let call: MPICall
        let sequence: Int
        let expiry: UInt64
    }

    private let lock = Lock()
    private let condition = Condition()
    private let period: UInt64
    private let report: @Sendable (CollectiveError) -> Never
    // Guarded by `lock`:
    private var watches: [Int: Watch] = [:]
    private var nextToken = 0
    private var isStopping = false
    private var thread: DedicatedThread?

    /// - Parameters:
    ///   - period: how often to check; a call is aborted at most `period` after its deadline.
    ///   - report: prints an error and aborts the job.
    init(period: Duration, report: @escaping @Sendable (CollectiveError) -> Never) {
        self.period = max(period.nanoseconds, 1_000_000)
        self.report = report
        thread = DedicatedThread { [self] in loop() }
    }

    /// Runs `body` (a blocking MPI call) under `communicator`'s deadline.
    @inline(__always)
    func watch<R>(_ communicator: MPICommunicator, _ call: MPICall, sequence: Int, _ body: () -> R) -> R {
        let expiry = monotonicNanoseconds() &+ communicator.deadline.nanoseconds
        let token = lock.withLock {
            defer { nextToken += 1 }
            watches[nextToken] = Watch(communicator: communicator, call: call, sequence: sequence, expiry: expiry)
            return nextToken
        }
        defer { lock.withLock { watches[token] = nil } }
        return body()
    }

    /// Stops the thread (after the last collective, before `MPI_Finalize`).
    func stop() {
        lock.withLock {
            isStopping = true
            condition.broadcast()
        }
        thread?.join()
    }

    private func loop() {
        lock.lock()
        while !isStopping {
            let now = monotonicNanoseconds()
            if let expired = watches.values.first(where: { $0.expiry <= now }) {
                lock.unlock()
                let communicator = expired.communicator
                report(communicator.arrivals.expiryError(group: communicator.name, call: expired.call,
                                                      sequence: expired.sequence, deadline: communicator.deadline))
            }
            condition.wait(lock, until: now &+ period)
        }
        lock.unlock()
    }
}
