#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CIntrinsics
import TesseraTensor

/// Monotonic time in nanoseconds, the clock every deadline of the threads backend is measured on.
@inline(__always)
package func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

extension Duration {
    /// Whole nanoseconds, saturating at `UInt64.max` for absurdly long deadlines.
    package var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole &+ UInt64(attoseconds / 1_000_000_000)
    }
}

/// A pthread mutex. The threads backend uses one per thread universe: every group state, slot and
/// mailbox of one ``ThreadGroup/run(ranks:deadline:_:)`` is guarded by it.
package final class Lock: @unchecked Sendable {
    fileprivate let raw = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    package init() {
        #if canImport(Glibc)
        // Adaptive: a thread that finds the lock taken spins briefly before it sleeps. Two ranks reach a decoding
        // step's collectives within microseconds of each other and hold the lock for far less; a plain mutex puts
        // the second to sleep on a futex, and waking it costs more than the whole meeting.
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        pthread_mutex_init(raw, &attributes)
        pthread_mutexattr_destroy(&attributes)
        #else
        pthread_mutex_init(raw, nil)
        #endif
    }

    deinit {
        pthread_mutex_destroy(raw)
        raw.deallocate()
    }

    @inline(__always) package func lock() { pthread_mutex_lock(raw) }
    @inline(__always) package func unlock() { pthread_mutex_unlock(raw) }

    @inline(__always)
    package func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A condition variable on the monotonic clock, used with a ``Lock``.
package final class Condition: @unchecked Sendable {
    private let raw = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if canImport(Glibc)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(raw, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(raw)
        raw.deallocate()
    }

    /// Waits (the lock held) until woken or until the monotonic time `deadline` (ns); spurious wake-ups
    /// are possible, so callers re-check their predicate. `UInt64.max` waits without a time limit.
    package func wait(_ lock: Lock, until deadline: UInt64) {
        guard deadline != .max else {
            pthread_cond_wait(raw, lock.raw)
            return
        }
        #if canImport(Glibc)
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(raw, lock.raw, &time)
        #else
        // Darwin's condition variables use the wall clock; wait relative to now instead.
        let now = monotonicNanoseconds()
        let remaining = deadline > now ? deadline - now : 0
        var time = timespec(tv_sec: Int(remaining / 1_000_000_000), tv_nsec: Int(remaining % 1_000_000_000))
        pthread_cond_timedwait_relative_np(raw, lock.raw, &time)
        #endif
    }

    package func broadcast() { pthread_cond_broadcast(raw) }
}

/// A condition variable plus a change counter, so waiters can spin briefly before sleeping.
///
/// Ranks on their own cores hand collectives to each other every few microseconds; a sleep and wake-up
/// through the kernel costs several of those. A waiter therefore first watches the counter for at most
/// ``spinNanoseconds``, and only then sleeps on the condition variable: its first ``pausedLooks`` looks a pause
/// instruction apart (a microsecond or two: a yield is a system call about that long on a virtual machine, and
/// a peer arriving meanwhile is seen only when it returns), then yielding the core on each look (so
/// oversubscribed ranks still run). Every change a waiter could care about goes through ``notifyLocked()``,
/// under the lock, so no wake-up is lost.
///
/// Measured on the 2-core machine (SmolLM2 Q4_1 decode, tp 2 on two thread ranks, 6 alternating runs): median
/// 455 → 464 tokens/s against yielding from the first look; a 2 KiB all-reduce between two ranks (`tessera bench
/// collectives`) 2.3 → 1.2 µs in two runs of three (4.1 µs in the third).
final class Signal: @unchecked Sendable {
    static let spinNanoseconds: UInt64 = 50_000
    static let pausedLooks = 64
    private let condition = Condition()
    private let version = AtomicWord()

    /// Wakes every waiter. Lock held.
    func notifyLocked() {
        _ = version.add(1)
        condition.broadcast()
    }

    /// Waits (lock held) until notified or until `deadline` (monotonic ns); callers re-check their predicate.
    func wait(_ lock: Lock, until deadline: UInt64) {
        let seen = version.load()
        lock.unlock()
        let start = monotonicNanoseconds()
        var looks = 0
        while version.load() == seen {
            if looks < Self.pausedLooks { tessera_spin_pause() } else { sched_yield() }
            looks += 1
            if looks % 8 == 0 {
                let now = monotonicNanoseconds()
                if now - start >= Self.spinNanoseconds || now >= deadline { break }
            }
        }
        lock.lock()
        // A change after the check above needs the lock, which is held until the wait releases it.
        guard version.load() == seen else { return }
        condition.wait(lock, until: deadline)
    }
}

/// A dedicated OS thread (never a Swift task): ranks and progress engines block on condition
/// variables, which must not happen on the cooperative pool.
package final class DedicatedThread: @unchecked Sendable {
    private var handle: pthread_t?

    /// Starts `body` on a new thread with an 8 MiB stack.
    package init(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, 8 << 20)
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t?
        #endif
        let status = pthread_create(&thread, &attributes, { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            box.body()
            return nil
        }, context)
        pthread_attr_destroy(&attributes)
        precondition(status == 0, "pthread_create failed with \(status): the process is out of threads")
        handle = thread
    }

    /// Waits for the thread to finish. Call at most once.
    package func join() {
        guard let thread = handle else { return }
        handle = nil
        pthread_join(thread, nil)
    }
}
