import Dispatch

/// Times two calls as pairs, alternating which goes first in each pair, so that both calls of a pair see the
/// same load on a shared machine: neighbouring calls share the machine's state, whole runs of one then the
/// other do not.
public struct PairedTimer {
    /// Seconds of each call of the first and of the second side, in pair order.
    public var times: [Double] = []
    public var peerTimes: [Double] = []

    /// Runs `repeats` pairs of `call` and `peer` (call first in even pairs, peer first in odd ones), each call
    /// timed on its own between two readings of `now` (seconds; default: the monotonic clock). No warm-up:
    /// callers warm up both sides first.
    public init(repeats: Int, _ call: () -> Void, peer: () -> Void,
                now: () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }) {
        func time(_ body: () -> Void) -> Double {
            let start = now()
            body()
            return now() - start
        }
        for r in 0..<repeats {
            if r % 2 == 0 {
                times.append(time(call))
                peerTimes.append(time(peer))
            } else {
                peerTimes.append(time(peer))
                times.append(time(call))
            }
        }
    }

    /// The median of `call`'s times.
    public var median: Double { BenchStatistics.median(times) }
    /// The median of `peer`'s times.
    public var peerMedian: Double { BenchStatistics.median(peerTimes) }
    /// The median over pairs of peer time / call time (above 1: `call` was faster). Not a ratio of medians,
    /// which load changes between calls make swing.
    public var ratio: Double { BenchStatistics.median(zip(peerTimes, times).map { $0 / $1 }) }
}
