import Foundation
import Testing
import TesseraBench

@Suite struct CollectiveBenchTests {
    /// nccl-tests' factors: all-reduce 2(n−1)/n, all-gather and reduce-scatter (n−1)/n, memcpy 1.
    @Test func busFactors() {
        #expect(CollectiveBenchOperation.allReduce.busFactor(ranks: 4) == 1.5)
        #expect(CollectiveBenchOperation.allGather.busFactor(ranks: 4) == 0.75)
        #expect(CollectiveBenchOperation.reduceScatter.busFactor(ranks: 2) == 0.5)
        #expect(CollectiveBenchOperation.memcpy.busFactor(ranks: 8) == 1)
        #expect(CollectiveBenchOperation.allReduce.busFactor(ranks: 1) == 0)
    }

    /// The threads backend's traffic in memcpys: all-reduce (3n−1)/2n, reduce-scatter (n+1)/2n, all-gather 1.
    @Test func copyFactors() {
        #expect(CollectiveBenchOperation.allReduce.copyFactor(ranks: 2) == 1.25)
        #expect(CollectiveBenchOperation.reduceScatter.copyFactor(ranks: 4) == 0.625)
        #expect(CollectiveBenchOperation.allGather.copyFactor(ranks: 8) == 1)
    }

    @Test func sampleBandwidths() {
        let sample = CollectiveSample(backend: "threads", operation: .allReduce, ranks: 4, bytes: 2_000_000_000, seconds: 2,
                                      iterations: 1)
        #expect(sample.algorithmBandwidth == 1)
        #expect(sample.busBandwidth == 1.5)
    }

    @Test func measuredBuffersSplitEvenlyIntoWholeFloats() {
        #expect(CollectiveTiming.bytes(requested: 4096, ranks: 3) == 4092)
        #expect(CollectiveTiming.bytes(requested: 4, ranks: 8) == 32)
        #expect(CollectiveTiming.iterations(bytes: 64 << 20) == 1)
        #expect(CollectiveTiming.iterations(bytes: 4096) == 1000)
        #expect(CollectiveTiming.iterations(bytes: 1 << 20) == 64)
    }

    @Test func rawMPIProgramLinesBecomeSamples() {
        let output = "# bytes seconds iterations\n4096 0.000002 1000\nwarning: something\n1048576 0.0005 64\n"
        let samples = RawMPIAllReduce.samples(parsing: output, ranks: 2)
        #expect(samples.map(\.bytes) == [4096, 1_048_576])
        #expect(samples.allSatisfy { $0.backend == "raw MPI_Allreduce" && $0.ranks == 2 && $0.operation == .allReduce })
        #expect(samples[1].iterations == 64)
    }

    /// A report with every column: rows sorted by (ranks, size), ratios as percentages, missing points as dashes.
    @Test func reportTableAndJSON() throws {
        let bytes = 1 << 20
        func sample(_ backend: String, _ operation: CollectiveBenchOperation, seconds: Double, paired: Double? = nil) -> CollectiveSample {
            CollectiveSample(backend: backend, operation: operation, ranks: 2, bytes: bytes, seconds: seconds, iterations: 64,
                             pairedRawRatio: paired)
        }
        let report = CollectiveBenchReport(machine: "Test CPU, 2 cores", cores: 2, trials: 3, notes: ["MPI skipped"], samples: [
            sample("threads", .memcpy, seconds: 1e-4), sample("threads", .allReduce, seconds: 2.5e-4),
            sample("mpi", .allReduce, seconds: 5e-4, paired: 0.9), sample("raw MPI_Allreduce", .allReduce, seconds: 4e-4),
        ])
        let table = report.table(operations: [.allReduce])
        #expect(table.hasPrefix("Collectives on Test CPU, 2 cores; median of 3 trials"))
        // memcpy 10.49 GB/s; bound = 1.25 memcpys = 1.25e-4 s → 8.39 GB/s; threads 4.19 GB/s, 50% of bound;
        // MPI 2.10 (busbw 2.10 at n = 2); raw 2.62; MPI/raw separate 80%, paired 90%.
        let row = table.split(separator: "\n").first { $0.contains("1 MiB") }.map(String.init) ?? ""
        let cells = row.split(separator: " ").map(String.init)
        #expect(cells == ["2", "1", "MiB", "10.49", "8.39", "4.19", "4.19", "50%", "2.10", "2.10", "2.62", "80%", "90%"])
        #expect(table.hasSuffix("note: MPI skipped"))
        let decoded = try JSONDecoder().decode(CollectiveBenchReport.self, from: JSONEncoder().encode(report))
        #expect(decoded.samples == report.samples)
    }

    /// Measures a tiny all-reduce on two in-process ranks: every point has a memcpy and an all-reduce sample.
    @Test func measuresOnThreads() throws {
        let samples = try CollectiveTiming.measureOnThreads(ranks: 2, sizes: [1 << 20], operations: [.allReduce], trials: 1)
        #expect(samples.map(\.operation) == [.memcpy, .allReduce])
        #expect(samples.allSatisfy { $0.seconds > 0 && $0.bytes == 1 << 20 && $0.iterations == 64 })
    }
}
