import CMPI

/// Enforces deadlines on blocking MPI collectives.
///
/// A blocking collective runs as the native call (`MPI_Allreduce`, …): Open MPI's non-blocking
/// collectives (libnbc) are several times slower at small and medium sizes, and a blocking call cannot be
/// cancelled. So each communicator notes the blocking call it is in (a few atomic stores, no lock), and
/// this thread, waking every `period`, ends the job when one passes its deadline: it prints the named
/// timeout (group, operation, sequence number, missing ranks from the arrival board) and calls
/// `MPI_Abort`. That is what the launcher does with any error under MPI, so the only difference from a
/// thrown timeout is that no caller can catch it.
final class MPIWatchdog: @unchecked Sendable {
    /// One communicator's blocking call in progress, written by its calling thread.
    final class Watch: @unchecked Sendable {
        /// Monotonic ns when the call expires; 0 when no blocking call is in progress.
        let expiry = AtomicWord()
        let sequence = AtomicWord()
        let kindAndArgument = AtomicWord()
        let byteCount = AtomicWord()

        @inline(__always)
        func begin(_ call: MPICall, sequence: Int, deadline: Duration) {
            self.sequence.store(UInt64(sequence))
            kindAndArgument.store(UInt64(call.kind.rawValue) | UInt64(call.argument) << 8)
            byteCount.store(UInt64(call.byteCount))
            expiry.store(monotonicNanoseconds() &+ deadline.nanoseconds)
        }

        @inline(__always)
        func end() { expiry.store(0) }

        /// The call in progress if it expired before `now` (read consistently: the expiry is unchanged).
        func expired(at now: UInt64) -> (call: MPICall, sequence: Int)? {
            let expiry = self.expiry.load()
            guard expiry != 0, expiry <= now else { return nil }
            let sequence = Int(self.sequence.load())
            let packed = kindAndArgument.load(), bytes = Int(byteCount.load())
            guard self.expiry.load() == expiry, let kind = MPICall.Kind(rawValue: Int64(packed & 0xff)) else { return nil }
            return (MPICall(kind: kind, byteCount: bytes, argument: Int(packed >> 8)), sequence)
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

    private func loop() {
        lock.lock()
        while !isStopping {
            let now = monotonicNanoseconds()
            for communicator in watched {
                guard let (call, sequence) = communicator.watch.expired(at: now) else { continue }
                lock.unlock()
                report(communicator.arrivals.expiryError(group: communicator.name, call: call, sequence: sequence,
                                                         deadline: communicator.deadline))
            }
            condition.wait(lock, until: now &+ period)
        }
        lock.unlock()
    }
}
