import ArgumentParser
import Foundation
import TesseraBench

/// `tessera bench kernels`: the tensor kernels against the machine's limits, measured in one run at each
/// thread count: `Kernels.matmul` next to raw `cblas_sgemm` on the same shapes, every element-wise
/// kernel's memory bandwidth next to a STREAM triad, the fused attention next to `cblas_sgemm`, and the products on
/// stored weights (SmolLM2's Q4_1 and Q8_0 shapes) next to the read bandwidth.
struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Kernel throughput: matmul against raw cblas_sgemm, element-wise kernels against a STREAM triad, stored-weight products against the read bandwidth.")

    @Option(help: "Timed repeats per element-wise and attention point after one warm-up call (the median is reported).")
    var repeats = 7

    @Option(name: .customLong("matmul-repeats"),
            help: "Timed pairs (Kernels.matmul and cblas_sgemm back to back) per matmul point after one warm-up call each.")
    var matmulRepeats = 13

    @Option(help: "Thread counts, comma-separated (OpenBLAS threads for matmul, ComputePool threads otherwise).")
    var threads = "1,2"

    @Option(help: "MiB per element-wise tensor (large enough that inputs and outputs miss the last-level cache).")
    var megabytes = 64

    @Flag(name: .customLong("skip-matmul"), help: "Measure only the element-wise kernels.")
    var skipMatmul = false

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func run() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        guard matmulRepeats >= 1 else { throw ValidationError("--matmul-repeats must be at least 1") }
        guard megabytes >= 16 else { throw ValidationError("--megabytes must be at least 16 (inputs of 16 MiB or more)") }
        let threadCounts = try threads.split(separator: ",").map { text in
            guard let count = Int(text.trimmingCharacters(in: .whitespaces)), count >= 1 else {
                throw ValidationError("--threads lists positive integers, e.g. 1,2 (got '\(threads)')")
            }
            return count
        }
        let report = try KernelBench.run(
            threadCounts: threadCounts, repeats: repeats, matmulRepeats: matmulRepeats, elementBytes: megabytes << 20,
            includeMatmul: !skipMatmul, machine: BenchCollectives.machine()
        ) { FileHandle.standardError.write(Data("bench kernels: \($0)\n".utf8)) }
        print(report.table())
        if let json { try writeJSON(report, to: json) }
    }
}
