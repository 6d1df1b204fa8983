import ArgumentParser
import Foundation
import TesseraBench
import TesseraCollectives

/// `tessera bench collectives`: all-reduce (and all-gather, reduce-scatter) bandwidth of the threads and MPI
/// backends side by side, against a memcpy measured in the same run and the raw C `MPI_Allreduce`.
///
/// Started normally it measures the threads backend in this process, re-launches itself under `mpirun` for
/// the MPI column, and runs bench/mpi_allreduce.c (built by `make bench`) for the raw column. Started by
/// `mpirun` (or with `--backend mpi`) it measures only the MPI world it is part of; there it also times a raw
/// `MPI_Allreduce` on the backend's own communicator in trials alternating with the backend's all-reduce,
/// for the paired MPI/raw ratio.
struct BenchCollectives: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collectives",
        abstract: "Collective bandwidth (nccl-tests algbw/busbw) of the threads and MPI backends, memcpy and raw MPI_Allreduce.")

    @Option(help: "Rank counts, comma-separated.")
    var ranks: String = "2,4,8"

    @Option(help: "Buffer sizes (K, M, G are powers of 1024), comma-separated.")
    var sizes: String = "4K,64K,1M,16M,64M,256M"

    @Option(help: "Collectives: allReduce, allGather, reduceScatter, comma-separated.")
    var operations: String = "allReduce"

    @Option(help: "Timed trials per point (MPI all-reduce: pairs with raw MPI_Allreduce; from 64 MiB up one call per trial, so more trials steady the large sizes) (medians are reported).")
    var trials: Int = 5

    @Option(help: "Measure only this backend (default: threads here and mpi through mpirun; mpi when started by mpirun).")
    var backend: String?

    @Option(help: "The mpirun command line used for the MPI columns.")
    var mpirun: String = "mpirun --oversubscribe --allow-run-as-root --mca btl self,vader --mca oob_tcp_if_include lo"

    @Option(name: .customLong("raw-mpi"), help: "The raw C MPI_Allreduce program (make bench builds it).")
    var rawMPI: String = ".build/mpi_allreduce"

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func run() throws {
        let sizes = try parsedSizes()
        let operations = try parsedOperations()
        guard trials >= 1 else { throw ValidationError("--trials must be at least 1") }
        let launcher = try Launchers.tessera.launcher(forFlag: backend)
        if !launcher.hostsAllRanks {
            try runAsMPIRank(launcher, sizes: sizes, operations: operations)
            return
        }
        let rankCounts = try parsedRanks()
        var samples: [CollectiveSample] = []
        var notes: [String] = []
        for n in rankCounts {
            log("\(n) ranks: threads backend and memcpy …")
            samples += try CollectiveTiming.measureOnThreads(ranks: n, sizes: sizes, operations: operations, trials: trials)
            guard backend == nil else { continue }
            log("\(n) ranks: MPI backend under mpirun …")
            do {
                samples += try mpiSamples(ranks: n, sizes: sizes, operations: operations).filter { $0.operation != .memcpy }
            } catch {
                notes.append("MPI backend on \(n) ranks not measured: \(error)")
            }
            if operations.contains(.allReduce) {
                log("\(n) ranks: raw MPI_Allreduce …")
                do {
                    samples += try RawMPIAllReduce.run(program: rawMPI, mpirun: mpirunCommand, ranks: n,
                                                       sizes: sizes.map { CollectiveTiming.bytes(requested: $0, ranks: n) }, trials: trials)
                } catch {
                    notes.append("raw MPI_Allreduce on \(n) ranks not measured (build it with make bench): \(error)")
                }
            }
        }
        let report = CollectiveBenchReport(machine: Self.machine(), cores: LaunchOptions.onlineCores, trials: trials,
                                           notes: notes, samples: samples)
        print(report.table(operations: operations))
        if let json { try writeJSON(report, to: json) }
    }

    /// Measures the MPI world this process belongs to; rank 0 prints and writes the results.
    private func runAsMPIRank(_ launcher: any RankLauncher, sizes: [Int], operations: [CollectiveBenchOperation]) throws {
        let trials = self.trials, json = self.json
        _ = try launcher.run(LaunchOptions(deadline: .seconds(600))) { world in
            let samples = try CollectiveTiming.measure(world, backend: "mpi", sizes: sizes, operations: [.memcpy] + operations,
                                                       trials: trials, allReducePeer: RawMPIInPlaceSum.peer(for: world))
            guard world.rank == 0 else { return }
            let report = CollectiveBenchReport(machine: Self.machine(), cores: LaunchOptions.onlineCores, trials: trials,
                                               notes: [], samples: samples)
            if let json { try writeJSON(report, to: json) } else { print(report.table(operations: operations)) }
        }
    }

    /// Re-launches this executable under mpirun on `ranks` processes and reads their JSON.
    private func mpiSamples(ranks: Int, sizes: [Int], operations: [CollectiveBenchOperation]) throws -> [CollectiveSample] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-bench-mpi-\(getpid())-\(ranks).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        _ = try Subprocess.run(mpirunCommand + ["-np", "\(ranks)", executable, "bench", "collectives", "--backend", "mpi",
                                                "--sizes", sizes.map(String.init).joined(separator: ","),
                                                "--operations", operations.map(\.rawValue).joined(separator: ","),
                                                "--trials", "\(trials)", "--json", file.path])
        return try JSONDecoder().decode(CollectiveBenchReport.self, from: Data(contentsOf: file)).samples
    }

    private var mpirunCommand: [String] { mpirun.split(separator: " ").map(String.init) }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data("bench collectives: \(message)\n".utf8))
    }

    private func parsedRanks() throws -> [Int] {
        let values = ranks.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.count == ranks.split(separator: ",").count, values.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--ranks must list positive integers, e.g. 2,4,8 (got '\(ranks)')")
        }
        return values
    }

    private func parsedSizes() throws -> [Int] {
        try sizes.split(separator: ",").map { text in
            let text = text.trimmingCharacters(in: .whitespaces).uppercased()
            let shifts: [Character: Int] = ["K": 10, "M": 20, "G": 30]
            let shift = text.last.flatMap { shifts[$0] } ?? 0
            guard let value = Int(shift == 0 ? text : String(text.dropLast())), value > 0 else {
                throw ValidationError("--sizes entries look like 4K, 64M or 4096 (got '\(text)')")
            }
            return value << shift
        }
    }

    private func parsedOperations() throws -> [CollectiveBenchOperation] {
        try operations.split(separator: ",").map { name in
            guard let operation = CollectiveBenchOperation(rawValue: String(name)), operation != .memcpy else {
                throw ValidationError("--operations entries are allReduce, allGather, reduceScatter (got '\(name)')")
            }
            return operation
        }
    }

    /// "CPU model, N cores", cores as the launcher counts them.
    static func machine() -> String { MachineInfo.description(cores: LaunchOptions.onlineCores) }
}
