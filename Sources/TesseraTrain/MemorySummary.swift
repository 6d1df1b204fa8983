import TesseraCollectives
import TesseraModels

/// Every rank's memory, gathered onto every rank, for the report printed at the start of a run.
public enum MemorySummary {
    /// The engines' ``MemoryReport``s in world rank order (collective: every rank of `world` calls it).
    public static func gather(_ report: MemoryReport, world: (any Communicator)?) throws -> [MemoryReport] {
        try RankFigures.gather(RankFigures(memory: report, bytes: [:]), world: world).map(\.memory)
    }

    /// One line per rank: `rank 0: parameters 13.0 MiB, gradients 13.0 MiB, AdamW 26.0 MiB, activations 96.0 MiB`
    /// (the most activation bytes the micro-batches in flight held at once).
    public static func lines(_ reports: [MemoryReport]) -> [String] {
        reports.enumerated().map { rank, m in
            "rank \(rank): parameters \(mebibytes(m.parameterBytes)), gradients \(mebibytes(m.gradientBytes)),"
                + " AdamW \(mebibytes(m.optimizerBytes)), activations \(mebibytes(m.activationBytes))"
        }
    }

    static func mebibytes(_ bytes: Int) -> String {
        let value = Double(bytes) / 1_048_576
        return value >= 100 ? "\(Int(value.rounded())) MiB" : "\((value * 10).rounded() / 10) MiB"
    }
}
