/// A request that completed when it was started (a buffered send).
final class CompletedRequest: CollectiveRequest {
    func wait() throws {}
    var isComplete: Bool { true }
}

/// A posted receive; ``wait()`` waits at most the group's deadline from the moment it is called.
final class ReceiveRequest: CollectiveRequest, @unchecked Sendable {
    private let group: ThreadGroupState
    private let receive: PostedReceive

    init(group: ThreadGroupState, receive: PostedReceive) {
        self.group = group
        self.receive = receive
    }

    func wait() throws { try group.wait(for: receive) }
    var isComplete: Bool { group.isComplete(receive) }
}

/// A collective running on a communicator's progress thread.
///
/// ``wait()`` waits for the progress thread to finish the operation, which is itself bounded: its arrival
/// waits at most the deadline, and a failure anywhere releases it at once.
final class EngineRequest: CollectiveRequest, @unchecked Sendable {
    private let lock: Lock
    private let signal: Signal
    // Guarded by `lock`:
    private var isDone = false
    private var error: (any Error)?

    init(lock: Lock, signal: Signal) {
        self.lock = lock
        self.signal = signal
    }

    func finish(error: (any Error)?) {
        lock.withLock {
            isDone = true
            self.error = error
            signal.notifyLocked()
        }
    }

    func wait() throws {
        let error: (any Error)? = lock.withLock {
            while !isDone { signal.wait(lock, until: .max) }
            return self.error
        }
        if let error { throw error }
    }

    var isComplete: Bool { lock.withLock { isDone } }
}

/// One communicator's progress thread: runs its non-blocking collectives in submission order while the
/// rank computes. Started on the first `start…` call; stopped when the thread universe closes.
final class ProgressEngine: @unchecked Sendable {
    private let lock: Lock
    private let condition = Condition()
    // Guarded by `lock`:
    private var jobs: [@Sendable () -> Void] = []
    private var isStopping = false
    private var thread: DedicatedThread?

    /// Call with the universe lock held.
    init(universe: ThreadUniverse) {
        lock = universe.lock
        universe.registerLocked(self)
        thread = DedicatedThread { [self] in loop() }
    }

    /// Queues a job. Lock held.
    func submitLocked(_ job: @escaping @Sendable () -> Void) {
        jobs.append(job)
        condition.broadcast()
    }

    /// Asks the thread to exit once its queue is empty. Lock held.
    func stopLocked() {
        isStopping = true
        condition.broadcast()
    }

    func join() { thread?.join() }

    private func loop() {
        lock.lock()
        while true {
            if !jobs.isEmpty {
                let job = jobs.removeFirst()
                lock.unlock()
                job()
                lock.lock()
            } else if isStopping {
                break
            } else {
                condition.wait(lock, until: .max)
            }
        }
        lock.unlock()
    }
}
