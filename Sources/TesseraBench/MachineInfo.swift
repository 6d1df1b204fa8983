import Foundation

/// What a benchmark says about the machine it ran on: the CPU, how busy it was, and this process's peak memory.
public enum MachineInfo {
    /// "CPU model, N cores", the model read from /proc/cpuinfo ("unknown CPU" where it is unreadable).
    public static func description(cores: Int) -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return "\(cpuModel(cpuinfo: info)), \(cores) cores"
    }

    /// The first `model name` of a /proc/cpuinfo text; "unknown CPU" when there is none.
    public static func cpuModel(cpuinfo: String) -> String {
        cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    }

    /// The 1-, 5- and 15-minute load averages (`/proc/loadavg`): the CPU is shared, so tables say how busy it was.
    public static func loadAverage() -> String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// Peak resident memory of this process (`VmHWM` of /proc/self/status), in bytes; 0 where unreadable.
    public static func peakResidentBytes() -> Int {
        peakResidentBytes(status: (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? "")
    }

    /// The `VmHWM:   N kB` line of a /proc/PID/status text, in bytes; 0 when the line is missing or malformed.
    public static func peakResidentBytes(status: String) -> Int {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return kilobytes * 1024
    }

    /// Resets this process's peak resident memory (`VmHWM`) to its current resident set, so the next run's peak is
    /// its own (Linux: writing 5 to `/proc/self/clear_refs`). Where that is refused, peaks stay cumulative.
    public static func resetPeakResident() {
        let descriptor = open("/proc/self/clear_refs", O_WRONLY)
        guard descriptor >= 0 else { return }
        _ = write(descriptor, "5", 1)
        close(descriptor)
    }
}
