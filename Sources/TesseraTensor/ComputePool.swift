import Foundation

/// A small fork-join pool that runs one kernel call on a fixed number of threads.
///
/// Each rank creates its own pool (threads = its share of the cores) and passes it to the element-wise
/// ``Kernels`` through their `pool:` parameter; there is no process-wide state. ``serial`` runs everything
/// on the calling thread and is every kernel's default. Matrix products do not use a pool: OpenBLAS has
/// its own threads, set through ``BLASThreads``.
///
/// Every kernel that takes a pool returns bitwise identical results for every pool size: work is split
/// into pieces whose arithmetic does not depend on how many threads there are (element ranges, whole
/// rows, fixed row blocks). Parallelism changes the speed, never the numbers.
///
/// One call at a time: concurrent calls from several threads are serialized; a body must not call back
/// into the same pool (that would deadlock).
///
/// Decoding one token makes over a hundred small calls, microseconds apart, and a sleep and wake-up through
/// the kernel costs about as much as each call's work. So between calls the workers, and within a call the
/// caller waiting for them, first spin for up to ``spinNanoseconds`` (pausing the core, and after
/// ``yieldAfterNanoseconds`` also yielding it every few looks) and only then sleep (see ``Spinning``).
public final class ComputePool: @unchecked Sendable {
    /// Whether a pool's threads spin briefly before they sleep.
    public enum Spinning: Sendable {
        /// Spin while the threads of all live pools with workers fit on the cores (``ComputePool/cores``); when
        /// they do not (several multi-threaded pools on few cores, as in tests), a spinning thread would only
        /// keep a busy thread off its core, so every wait sleeps at once.
        case automatic
        /// Always spin first (tests of the spinning path on any machine).
        case always
        /// Always sleep at once.
        case never
    }

    /// The longest a waiting thread spins before it sleeps: a few decode-step calls' worth.
    public static let spinNanoseconds: UInt64 = 50_000
    /// How long a waiting thread spins on the pause instruction alone before it also yields the core: the gaps
    /// between a decoding step's calls are mostly shorter.
    public static let yieldAfterNanoseconds: UInt64 = 10_000
    /// Cores this process may run on.
    public static let cores = ProcessInfo.processInfo.activeProcessorCount
    /// Threads (callers and workers) of the live pools that have workers.
    static let poolThreads = AtomicWord()

    /// The pool that runs every kernel on the calling thread (no worker threads exist).
    public static let serial = ComputePool(threads: 1)

    /// Threads that share a call, the caller included (at least 1).
    public let threadCount: Int
    /// Below this many elements per thread a kernel uses fewer threads: waking a thread costs
    /// microseconds, which small calls cannot repay.
    public let minimumElementsPerThread: Int

    private let shared: PoolState
    private let callLock = NSLock()

    /// Starts `threads − 1` worker threads (the caller is the first thread of every call).
    /// - Parameters:
    ///   - threads: threads per call, clamped to at least 1.
    ///   - minimumElementsPerThread: the smallest share worth a thread; tests lower it to force splits.
    ///   - spinning: whether waits spin before sleeping (default ``Spinning/automatic``).
    public init(threads: Int, minimumElementsPerThread: Int = 32_768, spinning: Spinning = .automatic) {
        threadCount = max(1, threads)
        self.minimumElementsPerThread = max(1, minimumElementsPerThread)
        shared = PoolState(workers: threadCount - 1, spinning: spinning)
        if threadCount > 1 { _ = Self.poolThreads.add(UInt64(threadCount)) }
        for worker in 0..<(threadCount - 1) {
            let state = shared
            let thread = Thread { state.workerLoop(part: worker + 1) }
            thread.name = "tessera-compute-\(worker + 1)"
            thread.start()
        }
    }

    deinit {
        shared.shutDown()
        if threadCount > 1 { _ = Self.poolThreads.add(0 &- UInt64(threadCount)) }
    }

    /// Number of parts worth running for `elements` elements of work: between 1 and ``threadCount``.
    public func parts(forElements elements: Int) -> Int {
        max(1, min(threadCount, elements / minimumElementsPerThread))
    }

    /// Calls `body(part)` once for each `part` in `0..<parts` (clamped to `1...threadCount`), each on its
    /// own thread, and returns when all have finished. Part 0 runs on the calling thread.
    public func run(parts: Int, _ body: (Int) -> Void) {
        let parts = max(1, min(parts, threadCount))
        if parts == 1 { return body(0) }
        callLock.lock()
        defer { callLock.unlock() }
        withoutActuallyEscaping(body) { escaping in
            shared.start(parts: parts, body: escaping)
            escaping(0)
            shared.waitForWorkers()
        }
    }

    /// Splits `0..<count` into contiguous ranges, one per part, whose boundaries are multiples of
    /// `alignment` (except the end), and runs `body` on each range in parallel.
    /// - Parameter minimumPerPart: the smallest range worth a thread (default ``minimumElementsPerThread``).
    public func forEachRange(count: Int, alignment: Int = 16, minimumPerPart: Int? = nil, _ body: (Range<Int>) -> Void) {
        let ranges = ranges(count: count, alignment: alignment, minimumPerPart: minimumPerPart)
        guard !ranges.isEmpty else { return }
        run(parts: ranges.count) { body(ranges[$0]) }
    }

    /// The ranges ``forEachRange(count:alignment:minimumPerPart:_:)`` would run (empty when `count` is 0).
    public func ranges(count: Int, alignment: Int = 16, minimumPerPart: Int? = nil) -> [Range<Int>] {
        guard count > 0 else { return [] }
        let parts = max(1, min(threadCount, count / max(1, minimumPerPart ?? minimumElementsPerThread)))
        return ComputePool.split(count: count, parts: parts, alignment: alignment)
    }

    /// Splits `0..<count` into at most `parts` non-empty contiguous ranges with aligned boundaries.
    public static func split(count: Int, parts: Int, alignment: Int = 1) -> [Range<Int>] {
        let alignment = max(1, alignment)
        let units = (count + alignment - 1) / alignment
        let parts = max(1, min(parts, units))
        var ranges: [Range<Int>] = []
        var start = 0
        for part in 0..<parts {
            let end = min(count, (units * (part + 1) / parts) * alignment)
            if end > start { ranges.append(start..<end) }
            start = end
        }
        return ranges
    }
}
