import Foundation

/// How `tessera bench generate` repeats its runs: every setting of a model once per round, rounds one after the other,
/// so a slow phase of a shared machine slows every setting alike and the medians over the rounds compare like with like.
extension GenerateBench {
    /// One row's setting: what a round runs once for it.
    public struct Setting: Sendable, Equatable {
        /// Compute threads of each rank.
        public var threads: Int
        /// Sequences decoded together.
        public var batch: Int
        /// Tensor-parallel ranks.
        public var tp: Int
        /// Whether llama.cpp runs the same setting right after Tessera (batch 1, tp 1, the peer not skipped).
        public var withPeer: Bool

        public init(threads: Int, batch: Int = 1, tp: Int = 1, withPeer: Bool = false) {
            (self.threads, self.batch, self.tp, self.withPeer) = (threads, batch, tp, withPeer)
        }
    }

    /// A model's settings in the order each round runs them: batch 1 at each of `threadCounts` (Tessera, then
    /// llama.cpp when `peer`), then batch `batch` at the largest thread count, then tp `tp` with one thread per rank
    /// (the row compared with batch 1 at `tp` threads); a `batch` or `tp` of 1 leaves that setting out.
    /// - Precondition: `threadCounts` is not empty.
    public static func settings(threadCounts: [Int], batch: Int, tp: Int, peer: Bool) -> [Setting] {
        var settings = threadCounts.map { Setting(threads: $0, withPeer: peer) }
        if batch > 1 { settings.append(Setting(threads: threadCounts.max()!, batch: batch)) }
        if tp > 1 { settings.append(Setting(threads: 1, tp: tp)) }
        return settings
    }

    /// Calls `measure(setting, round)` for every setting in order, for round 0, then round 1, up to `repeats − 1`
    /// (interleaved: no setting runs twice before every other has run once), and returns the results as
    /// `[settings.count][repeats]`: each setting's results in round order.
    /// - Precondition: `repeats >= 1`.
    public static func rounds<Result>(_ settings: [Setting], repeats: Int,
                                      measure: (Setting, Int) throws -> Result) rethrows -> [[Result]] {
        var results = settings.map { _ in [Result]() }
        for round in 0..<repeats {
            for (index, setting) in settings.enumerated() { results[index].append(try measure(setting, round)) }
        }
        return results
    }
}

extension GenerateBench.Run {
    /// The median of `runs` field by field (``BenchStatistics/median(_:)``: the mean of the two middle values of an
    /// even count), so the rates need not equal the token counts over the seconds; peak resident bytes rounded to a
    /// whole byte; the implementation and the token counts are the first run's (every run of a setting shares them).
    /// - Precondition: `runs` is not empty.
    public static func median(of runs: [Self]) -> Self {
        func middle(_ field: (Self) -> Double) -> Double { BenchStatistics.median(runs.map(field)) }
        return Self(implementation: runs[0].implementation, promptTokens: runs[0].promptTokens, prefillSeconds: middle(\.prefillSeconds),
                    prefillTokensPerSecond: middle(\.prefillTokensPerSecond), decodedTokens: runs[0].decodedTokens,
                    decodeSeconds: middle(\.decodeSeconds), decodeTokensPerSecond: middle(\.decodeTokensPerSecond),
                    peakResidentBytes: Int(middle { Double($0.peakResidentBytes) }.rounded()))
    }
}
