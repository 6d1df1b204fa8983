import TesseraCollectives
import TesseraModels

/// Every rank's memory, gathered onto every rank, for the report printed at the start of a run.
public enum MemorySummary {
    /// The engines' ``MemoryReport``s in world rank order (collective: every rank of `world` calls it).
    public static func gather(_ report: MemoryReport, world: (any Communicator)?) throws -> [MemoryReport] {
        let mine = [report.parameterBytes, report.gradientBytes, report.optimizerBytes, report.activationBytes].map(Int64.init)
        guard let world, world.size > 1 else { return [report] }
        var all = [Int64](repeating: 0, count: mine.count * world.size)
        try mine.withUnsafeBytes { input in
            try all.withUnsafeMutableBytes { try world.allGather(input, into: $0) }
        }
        return (0..<world.size).map { r in
            let v = Array(all[r * mine.count..<(r + 1) * mine.count].map(Int.init))
            var copy = report
            (copy.parameterBytes, copy.gradientBytes, copy.optimizerBytes, copy.activationBytes) = (v[0], v[1], v[2], v[3])
            return copy
        }
    }

    /// One line per rank: `rank 0: parameters 13.0 MiB, gradients 13.0 MiB, AdamW 26.0 MiB, activations 96.0 MiB`
    /// (activations saved for the backward pass of one micro-batch).
    public static func lines(_ reports: [MemoryReport]) -> [String] {
        reports.enumerated().map { rank, m in
            "rank \(rank): parameters \(mebibytes(m.parameterBytes)), gradients \(mebibytes(m.gradientBytes)),"
                + " AdamW \(mebibytes(m.optimizerBytes)), activations \(mebibytes(m.activationBytes)) per micro-batch"
        }
    }

    static func mebibytes(_ bytes: Int) -> String {
        let value = Double(bytes) / 1_048_576
        return value >= 100 ? "\(Int(value.rounded())) MiB" : "\((value * 10).rounded() / 10) MiB"
    }
}
