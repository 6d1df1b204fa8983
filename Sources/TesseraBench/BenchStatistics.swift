import Foundation
import TesseraTensor

/// Medians and clock readings every benchmark shares.
public enum BenchStatistics {
    /// The median: the middle value of an odd count, the mean of the two middle values of an even count;
    /// NaN for no values.
    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// The median as bench/mpi_allreduce.c takes it: the middle value, the upper one of an even count.
    /// - Precondition: `values` is not empty.
    public static func middle(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// The nearest-rank percentile `q` (0...100) of `values`; NaN for none.
    public static func percentile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((q / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }

    /// `duration` in seconds.
    public static func seconds(_ duration: Duration) -> Double {
        duration.seconds
    }

    /// Wall-clock seconds of one call of `body`.
    public static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        return seconds(ContinuousClock.now - start)
    }
}
