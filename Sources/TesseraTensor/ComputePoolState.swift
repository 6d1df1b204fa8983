import CIntrinsics
import Foundation

/// The state shared by a ``ComputePool`` and its workers: a generation counter that announces a call, the body,
/// and a count of workers still running it. Workers hold this object, never the pool, so the pool's `deinit` can
/// tell them to exit.
///
/// Counters are atomic so that a spinning thread sees a change without a lock. Sleeping goes through the lock:
/// a thread records that it sleeps and re-checks its counter under the lock, and whoever changes a counter takes
/// the lock afterwards and wakes the sleepers it finds, so no wake-up is lost.
final class PoolState: @unchecked Sendable {
    private let condition = NSCondition()
    private let workers: Int
    private let spinning: ComputePool.Spinning
    /// Bumped once per call (and once at shut-down); written after `body`, `parts` and `pending`.
    private let generation = AtomicWord()
    /// Workers that have not finished the current call.
    private let pending = AtomicWord()
    private var parts = 0
    private var isShutDown = false
    private var body: ((Int) -> Void)?
    // Guarded by `condition`.
    private var sleepingWorkers = 0
    private var callerSleeps = false

    init(workers: Int, spinning: ComputePool.Spinning) {
        self.workers = workers
        self.spinning = spinning
    }

    /// Whether a wait spins before it sleeps now.
    private var spins: Bool {
        switch spinning {
        case .always: true
        case .never: false
        case .automatic: ComputePool.poolThreads.load() <= UInt64(ComputePool.cores)
        }
    }

    /// Spins until `done()` or for at most ``ComputePool/spinNanoseconds``; returns whether `done()` came true. For
    /// the first ``ComputePool/yieldAfterNanoseconds`` it only pauses the core: a yield is a system call that costs
    /// about as much as a short call's work, and a thread inside it notices a new call late. After that it also
    /// yields the core on every look at the clock, for a thread of another process that may be waiting for it.
    private func spin(until done: () -> Bool) -> Bool {
        guard spins else { return done() }
        let start = DispatchTime.now().uptimeNanoseconds
        var looks = 0
        while !done() {
            tessera_spin_pause()
            looks += 1
            if looks % 32 == 0 {
                let elapsed = DispatchTime.now().uptimeNanoseconds - start
                if elapsed >= ComputePool.spinNanoseconds { return done() }
                if elapsed >= ComputePool.yieldAfterNanoseconds { sched_yield() }
            }
        }
        return true
    }

    /// Announces a call of `body` on parts `1..<parts` (part 0 is the caller's).
    func start(parts: Int, body: @escaping (Int) -> Void) {
        self.body = body
        self.parts = parts
        pending.store(UInt64(workers))
        _ = generation.add(1)
        condition.lock()
        if sleepingWorkers > 0 { condition.broadcast() }
        condition.unlock()
    }

    /// Returns once every worker has finished the current call, and drops its body.
    func waitForWorkers() {
        if !spin(until: { pending.load() == 0 }) {
            condition.lock()
            callerSleeps = true
            while pending.load() > 0 { condition.wait() }
            callerSleeps = false
            condition.unlock()
        }
        body = nil
    }

    func shutDown() {
        isShutDown = true
        _ = generation.add(1)
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    func workerLoop(part: Int) {
        var seen: UInt64 = 0
        while true {
            seen = nextGeneration(after: seen)
            if isShutDown { return }
            runPart(part)
            if pending.add(0 &- 1) == 1 {
                condition.lock()
                if callerSleeps { condition.broadcast() }
                condition.unlock()
            }
        }
    }

    /// Runs this worker's part of the current call. A function of its own, so the worker's reference to the body
    /// is gone before it reports the part done (the pool's caller then checks that the body did not escape).
    private func runPart(_ part: Int) {
        if part < parts, let body { body(part) }
    }

    /// Waits for a generation other than `seen` and returns it.
    private func nextGeneration(after seen: UInt64) -> UInt64 {
        if spin(until: { generation.load() != seen }) { return generation.load() }
        condition.lock()
        sleepingWorkers += 1
        while generation.load() == seen { condition.wait() }
        sleepingWorkers -= 1
        condition.unlock()
        return generation.load()
    }
}
