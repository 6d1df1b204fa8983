import Foundation
import TesseraCollectives
import TesseraFormats

/// The results of `tessera bench collectives`: printed as tables, saved as JSON.
struct CollectiveBenchReport: Codable {
    var machine: String
    var cores: Int
    var trials: Int
    var notes: [String]
    var samples: [CollectiveSample]

    /// One table per collective: rows are (ranks, size); columns the memcpy of the same bytes on every rank
    /// at once, the threads backend's copy-model bound, the threads and MPI backends, and raw MPI_Allreduce
    /// (its own launch, and paired with the MPI backend in the MPI backend's launch).
    func table(operations: [CollectiveBenchOperation]) -> String {
        var lines = [
            "Collectives on \(machine); median of \(trials) trials after a warm-up; a trial's time is the slowest rank's.",
            "GB/s = 10⁹ bytes/s. algbw = bytes / time; busbw = algbw × 2(n−1)/n for all-reduce, × (n−1)/n for all-gather",
            "and reduce-scatter (nccl-tests, doc/PERFORMANCE.md). memcpy: every rank copies the same bytes at once (GB/s per rank).",
            "bound: the threads backend's traffic as memcpys at that rate (all-reduce (3n−1)/2n, all-gather 1, reduce-scatter",
            "(n+1)/2n memcpy times); % bound = threads algbw / bound. raw MPI: bench/mpi_allreduce.c in its own mpirun launch;",
            "MPI/raw (separate) = its time / Tessera MPI time. MPI/raw (paired) = median over trials of raw MPI_Allreduce",
            "time / Tessera MPI time, the two interleaved call by call in the Tessera MPI launch (same communicator and buffer,",
            "alternating which goes first; per trial the ratio of the slowest ranks' median calls), so both see the same load.",
        ]
        for operation in operations {
            lines.append("")
            lines.append("\(operation.rawValue) (float32 sum where it reduces)")
            var header = ["ranks", "size", "memcpy", "bound", "threads algbw", "busbw", "% bound", "MPI algbw", "busbw"]
            if operation == .allReduce { header += ["raw MPI algbw", "MPI/raw (separate)", "MPI/raw (paired)"] }
            var rows = [header]
            let points = Set(samples.filter { $0.operation == operation }.map { [$0.ranks, $0.bytes] })
            for point in points.sorted(by: { ($0[0], $0[1]) < ($1[0], $1[1]) }) {
                let (n, bytes) = (point[0], point[1])
                func sample(_ backend: String, _ operation: CollectiveBenchOperation) -> CollectiveSample? {
                    samples.first { $0.backend == backend && $0.operation == operation && $0.ranks == n && $0.bytes == bytes }
                }
                let copy = sample("threads", .memcpy)
                let threads = sample("threads", operation), mpi = sample("mpi", operation)
                let boundSeconds = copy.map { $0.seconds * operation.copyFactor(ranks: n) }
                let bound = boundSeconds.map { Double(bytes) / $0 / 1e9 }
                var row = [
                    "\(n)", Self.size(bytes), Self.rate(copy?.algorithmBandwidth), Self.rate(bound),
                    Self.rate(threads?.algorithmBandwidth), Self.rate(threads?.busBandwidth),
                    Self.percent(threads.flatMap { t in boundSeconds.map { $0 / t.seconds } }),
                    Self.rate(mpi?.algorithmBandwidth), Self.rate(mpi?.busBandwidth),
                ]
                if operation == .allReduce {
                    let raw = sample("raw MPI_Allreduce", .allReduce)
                    row += [Self.rate(raw?.algorithmBandwidth), Self.percent(raw.flatMap { r in mpi.map { r.seconds / $0.seconds } }),
                            Self.percent(mpi?.pairedRawRatio)]
                }
                rows.append(row)
            }
            lines += Self.aligned(rows)
        }
        if !notes.isEmpty { lines += [""] + notes.map { "note: \($0)" } }
        return lines.joined(separator: "\n")
    }

    static func size(_ bytes: Int) -> String {
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift) \(unit)"
        }
        return "\(bytes) B"
    }

    static func rate(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "–" }
    static func percent(_ value: Double?) -> String { value.map { String(format: "%.0f%%", $0 * 100) } ?? "–" }

    /// Right-aligned columns separated by two spaces.
    static func aligned(_ rows: [[String]]) -> [String] {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { String(repeating: " ", count: widths[$0.offset] - $0.element.count) + $0.element }
                .joined(separator: "  ")
        }
    }
}
