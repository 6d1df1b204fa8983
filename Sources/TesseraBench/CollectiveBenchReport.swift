import Foundation

/// The results of `tessera bench collectives`: printed as tables, saved as JSON.
public struct CollectiveBenchReport: Codable {
    public var machine: String
    public var cores: Int
    public var trials: Int
    public var notes: [String]
    public var samples: [CollectiveSample]

    public init(machine: String, cores: Int, trials: Int, notes: [String], samples: [CollectiveSample]) {
        (self.machine, self.cores, self.trials, self.notes, self.samples) = (machine, cores, trials, notes, samples)
    }

    /// One table per collective: rows are (ranks, size); columns the memcpy of the same bytes on every rank
    /// at once, the threads backend's copy-model bound, the threads and MPI backends, and raw MPI_Allreduce
    /// (its own launch, and paired with the MPI backend in the MPI backend's launch).
    public func table(operations: [CollectiveBenchOperation]) -> String {
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
                    "\(n)", BenchText.size(bytes), BenchText.rate(copy?.algorithmBandwidth), BenchText.rate(bound),
                    BenchText.rate(threads?.algorithmBandwidth), BenchText.rate(threads?.busBandwidth),
                    BenchText.percent(threads.flatMap { t in boundSeconds.map { $0 / t.seconds } }),
                    BenchText.rate(mpi?.algorithmBandwidth), BenchText.rate(mpi?.busBandwidth),
                ]
                if operation == .allReduce {
                    let raw = sample("raw MPI_Allreduce", .allReduce)
                    row += [BenchText.rate(raw?.algorithmBandwidth), BenchText.percent(raw.flatMap { r in mpi.map { r.seconds / $0.seconds } }),
                            BenchText.percent(mpi?.pairedRawRatio)]
                }
                rows.append(row)
            }
            lines += BenchText.aligned(rows)
        }
        if !notes.isEmpty { lines += [""] + notes.map { "note: \($0)" } }
        return lines.joined(separator: "\n")
    }
}

/// bench/mpi_allreduce.c, raw `MPI_Allreduce` in its own mpirun launch: the MPI backend's peer.
public enum RawMPIAllReduce {
    /// Runs the program under `mpirun` on `ranks` processes and reads its lines.
    public static func run(program: String, mpirun: [String], ranks: Int, sizes: [Int], trials: Int) throws -> [CollectiveSample] {
        let output = try Subprocess.run(mpirun + ["-np", "\(ranks)", program, "--trials", "\(trials)"] + sizes.map(String.init))
        return samples(parsing: output, ranks: ranks)
    }

    /// The program's result lines, `bytes seconds iterations` each; other lines are skipped.
    public static func samples(parsing output: String, ranks: Int) -> [CollectiveSample] {
        output.split(separator: "\n").compactMap { line -> CollectiveSample? in
            let fields = line.split(separator: " ")
            guard fields.count == 3, let bytes = Int(fields[0]), let seconds = Double(fields[1]),
                  let iterations = Int(fields[2]) else { return nil }
            return CollectiveSample(backend: "raw MPI_Allreduce", operation: .allReduce, ranks: ranks, bytes: bytes,
                                    seconds: seconds, iterations: iterations)
        }
    }
}
