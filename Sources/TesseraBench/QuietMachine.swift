import Foundation
import TesseraTensor

/// Waiting, before a timed run, until the CPUs are quiet: on a machine whose cores the runs share, a run started
/// while the previous one's process is still being torn down measures both. On this project's 2-core VM a batch-8
/// decode run started right after a llama.cpp run gave 729–885 tokens/s and 852–912 started on an idle machine
/// (3 alternating pairs), so `bench generate` settles before every run, Tessera's and llama.cpp's alike.
public enum QuietMachine {
    /// Waits until the CPUs were at least `idle` (a fraction) idle over one `window`, checking for at most `limit`.
    /// - Returns: whether they were; false also where /proc/stat is unreadable (the run then starts at once).
    @discardableResult
    public static func settle(idle: Double = 0.9, window: Duration = .milliseconds(500), limit: Duration = .seconds(20)) -> Bool {
        let clock = ContinuousClock(), deadline = clock.now + limit
        while clock.now < deadline {
            guard let before = cpuTimes() else { return false }
            Thread.sleep(forTimeInterval: window.seconds)
            guard let after = cpuTimes(), let fraction = idleFraction(from: before, to: after) else { return false }
            if fraction >= idle { return true }
        }
        return false
    }

    /// The aggregate `cpu` line of /proc/stat: (idle + iowait, total) jiffies.
    static func cpuTimes() -> (idle: Int, total: Int)? {
        (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)).flatMap(cpuTimes(stat:))
    }

    /// (idle + iowait, total) jiffies of the first line of a /proc/stat text (`cpu  user nice system idle iowait irq
    /// softirq steal …`); nil when the line is missing or malformed.
    public static func cpuTimes(stat: String) -> (idle: Int, total: Int)? {
        guard let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let fields = line.split(separator: " ").dropFirst().prefix(8).compactMap { Int($0) }
        guard fields.count == 8 else { return nil }
        return (fields[3] + fields[4], fields.reduce(0, +))
    }

    /// The fraction of CPU time spent idle between two readings; nil when no time passed.
    public static func idleFraction(from before: (idle: Int, total: Int), to after: (idle: Int, total: Int)) -> Double? {
        let total = after.total - before.total
        return total > 0 ? Double(after.idle - before.idle) / Double(total) : nil
    }
}
