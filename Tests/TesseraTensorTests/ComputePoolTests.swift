import Foundation
import Testing
import TesseraTensor

/// The pool's hand-offs: many back-to-back tiny calls, with pauses long enough for the workers to fall asleep
/// between some of them, each run every part exactly once and return; spinning or not, no wake-up is lost.
@Suite struct ComputePoolTests {
    /// Runs `body` on a thread of its own and reports whether it returned within `seconds` (a lost wake-up hangs).
    static func finishes(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        Thread {
            body()
            done.signal()
        }.start()
        return done.wait(timeout: .now() + seconds) == .success
    }

    /// `calls` calls of every part of `pool`, pausing 200 µs (past the spin limit) before every 97th; returns how
    /// many calls ran each part exactly once.
    static func completeCalls(_ pool: ComputePool, calls: Int, skipping skipped: Int? = nil) -> Int {
        let threads = pool.threadCount
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: threads)
        defer { counts.deallocate() }
        var complete = 0
        for call in 0..<calls {
            if call % 97 == 0 { usleep(200) }
            counts.initialize(repeating: 0, count: threads)
            pool.run(parts: threads) { part in
                if part != skipped { counts[part] += 1 }
            }
            if (0..<threads).allSatisfy({ counts[$0] == 1 }) { complete += 1 }
        }
        return complete
    }

    @Test(arguments: [ComputePool.Spinning.always, .never, .automatic])
    func backToBackTinyCallsAllComplete(_ spinning: ComputePool.Spinning) {
        let pool = ComputePool(threads: 3, spinning: spinning), calls = 3_000
        let complete = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        defer { complete.deallocate() }
        complete.pointee = 0
        nonisolated(unsafe) let result = complete
        #expect(Self.finishes(within: 60) { result.pointee = Self.completeCalls(pool, calls: calls) })
        #expect(complete.pointee == calls)
    }

    /// Both checks above can fail: a part that never runs is counted, and a call that never returns is caught.
    @Test func missingPartAndHangAreCaught() {
        let pool = ComputePool(threads: 2, spinning: .always)
        #expect(Self.completeCalls(pool, calls: 10, skipping: 1) == 0)
        let never = DispatchSemaphore(value: 0)
        #expect(!Self.finishes(within: 0.2) { never.wait() })
        never.signal()
    }
}
