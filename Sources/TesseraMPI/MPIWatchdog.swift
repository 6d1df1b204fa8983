import CMPI
import TesseraCollectives
import TesseraTensor

/// Enforces deadlines on blocking MPI collectives.
///
/// A blocking collective runs as the native call (`MPI_Allreduce`, …): Open MPI's non-blocking
/// collectives (libnbc) are several times slower at small and medium sizes, and a blocking call cannot be
/// cancelled. So each communicator notes the blocking call it is in (a few atomic stores, no lock), and
/// this thread, waking every `period`, ends the job when one has run past its deadline: it prints the named
/// timeout (group, operation, sequence number, missing ranks from the arrival board) and calls
/// `MPI_Abort`. That is what the launcher does with any error under MPI, so the only difference from a
/// thrown timeout is that no caller can catch it.
final class MPIWatchdog: @unchecked Sendable {
    /// One communicator's blocking call in progress, written by its calling thread with plain atomic
    /// stores (no clock read, no lock: the watchdog measures how long it has seen the same call).
    final class Watch: @unchecked Sendable {
        /// The call's sequence number + 1; 0 when no blocking call is in progress.
        let token = AtomicWord()
        let kindAndArgument = AtomicWord()
        let byteCount = AtomicWord()

        @inline(__always)
        func begin(_ call: MPICall, sequence: Int) {
            kindAndArgument.store(UInt64(call.kind.rawValue) | UInt64(call.argument) << 8)
            byteCount.store(UInt64(call.byteCount))
            token.store(UInt64(sequence + 1))
        }

        @inline(__always)
        func end() { token.store(0) }

        /// The call in progress, read consistently (the token is unchanged), or `nil`.
        func current() -> (token: UInt64, call: MPICall, sequence: Int)? {
            let token = self.token.load()
            guard token != 0 else { return nil }
            let packed = kindAndArgument.load(), bytes = Int(byteCount.load())
            guard self.token.load() == token, let kind = MPICall.Kind(rawValue: Int64(packed & 0xff)) else { return nil }
            return (token, MPICall(kind: kind, byteCount: bytes, argument: Int(packed >> 8)), Int(token) - 1)
        }
    }

    private let lock = Lock()
    private let condition = Condition()
    private let period: UInt64
    private let report: @Sendable (CollectiveError) -> Never
    // Guarded by `lock`:
    private var watched: [MPICommunicator] = []
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

    /// Starts watching a communicator's blocking calls.
    func watch(_ communicator: MPICommunicator) {
        lock.withLock { watched.append(communicator) }
    }

    /// Stops the thread (after the last collective, before `MPI_Finalize`).
    func stop() {
        lock.withLock {
            isStopping = true
            condition.broadcast()
        }
        thread?.join()
    }

    /// Each tick, a call seen in progress with the same token since `firstSeen` has been running at least
    /// that long; one past the communicator's deadline ends the job (at most one period late).
    private func loop() {
        var seen: [ObjectIdentifier: (token: UInt64, firstSeen: UInt64)] = [:]
        lock.lock()
        while !isStopping {
            let now = monotonicNanoseconds()
            for communicator in watched {
                let id = ObjectIdentifier(communicator)
                guard let (token, call, sequence) = communicator.watch.current() else {
                    seen[id] = nil
                    continue
                }
                guard let earlier = seen[id], earlier.token == token else {
                    seen[id] = (token, now)
                    continue
                }
                guard now - earlier.firstSeen >= communicator.deadline.nanoseconds else { continue }
                lock.unlock()
                report(communicator.arrivals.expiryError(group: communicator.name, call: call, sequence: sequence,
                                                         deadline: communicator.deadline))
            }
            condition.wait(lock, until: now &+ period)
        }
        lock.unlock()
    }
}
