import ArgumentParser
import Foundation
import TesseraFormats
import TesseraTensor

/// `tessera bench load`: time to open a checkpoint (GGUF or safetensors) and dequantize every tensor to Float32.
///
/// Columns: Tessera's time; the machine's floor for the same output (allocating arrays of the same sizes and
/// writing each element once: page faults plus memory bandwidth); and the peer, gguf-py's reader with numpy
/// dequantization (the decoder transformers uses for GGUF files), run as a subprocess in the same command.
/// Medians after one warm-up run, with the file in the page cache; one thread.
struct BenchLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Time opening a GGUF or safetensors checkpoint and dequantizing every tensor to Float32.")

    @Option(help: "A .gguf file, a .safetensors file, or a Hugging Face directory.")
    var model: String = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "Timed runs (after one warm-up); the median is reported.")
    var runs: Int = 5

    @Flag(help: "Skip the gguf-py peer.")
    var noPeer = false

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    struct Report: Codable {
        var benchmark = "load"
        let model: String
        let tensors: Int
        let elements: Int
        let runs: Int
        var threads = 1
        let openSeconds: Double
        let totalSeconds: Double
        let writeFloorSeconds: Double
        let peerGGUFPySeconds: Double?
    }

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    func run() throws {
        var opens: [Double] = [], totals: [Double] = [], floors: [Double] = []
        var counts: [Int] = []
        for run in 0...runs {
            let start = ContinuousClock.now
            let source: any TensorSource = model.hasSuffix(".gguf")
                ? try GGUFFile(path: model) : try SafeTensorsCheckpoint(path: model)
            let opened = ContinuousClock.now
            counts = try source.tensorNames.map { try source.tensor(named: $0).count }
            let done = ContinuousClock.now
            let floor = FormatBench.seconds { FormatBench.allocateAndWrite(counts) }
            if run > 0 {
                opens.append(FormatBench.seconds(opened - start))
                totals.append(FormatBench.seconds(done - start))
                floors.append(floor)
            }
        }
        let peer = noPeer || !model.hasSuffix(".gguf") ? nil : Self.ggufPyPeerSeconds(model, runs: runs)
        let report = Report(model: model, tensors: counts.count, elements: counts.reduce(0, +), runs: runs,
                            openSeconds: TrainingBenchmark.median(opens), totalSeconds: TrainingBenchmark.median(totals),
                            writeFloorSeconds: TrainingBenchmark.median(floors), peerGGUFPySeconds: peer)
        print(report.table)
        if let json { try writeJSON(report, to: json, snakeCaseKeys: true) }
    }

    /// gguf-py opening the file and dequantizing every tensor with numpy; median over `runs` after a warm-up.
    static func ggufPyPeerSeconds(_ path: String, runs: Int) -> Double? {
        FormatBench.pythonSeconds("""
            import statistics, sys, time
            import gguf, numpy
            times = []
            for i in range(\(runs) + 1):
                t = time.perf_counter()
                r = gguf.GGUFReader(sys.argv[1])
                for x in r.tensors:
                    gguf.quants.dequantize(x.data, x.tensor_type).astype(numpy.float32)
                times.append(time.perf_counter() - t)
            print(statistics.median(times[1:]))
            """, arguments: [path])
    }
}

extension BenchLoad.Report {
    var table: String {
        let c = FormatBench.cell
        return """
            tessera bench load: \(model)
              \(tensors) tensors, \(elements) elements -> \(elements * 4 / 1_000_000) MB of Float32; \(threads) thread; \
            median of \(runs) runs after a warm-up (page cache warm)

              | step                         | tessera (s) | floor: write output (s) | gguf-py + numpy (s) | tessera / floor |
              |------------------------------|-------------|-------------------------|---------------------|-----------------|
              | open + validate header       | \(c(openSeconds, 11, 3)) | \(c(nil, 23, 3)) | \(c(nil, 19, 3)) | \(c(nil, 15, 3)) |
              | open + dequantize all to F32 | \(c(totalSeconds, 11, 3)) | \(c(writeFloorSeconds, 23, 3)) | \(c(peerGGUFPySeconds, 19, 3)) | \(c(totalSeconds / writeFloorSeconds, 15, 2)) |

              \(totalSeconds < 1 ? "under" : "ABOVE") the 1 s target
            """
    }
}

/// Timing, formatting and output helpers shared by the format benchmarks.
enum FormatBench {
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        return seconds(ContinuousClock.now - start)
    }

    /// Allocates arrays of `counts` Float32 values and writes each element once.
    static func allocateAndWrite(_ counts: [Int]) {
        var sink: Float = 0
        for count in counts {
            let array = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count { buffer[i] = Float(i & 7) }
                initialized = count
            }
            sink += array.last ?? 0
        }
        if sink.isNaN { print("", terminator: "") }
    }

    /// `value` right-aligned in `width` columns with `digits` decimals ("n/a" for nil or not finite).
    static func cell(_ value: Double?, _ width: Int, _ digits: Int) -> String {
        var text = "n/a"
        if let value, value.isFinite {
            var scale = 1
            for _ in 0..<digits { scale *= 10 }
            let scaled = Int((value * Double(scale)).rounded())
            let fraction = String(scaled % scale)
            text = String(scaled / scale) + (digits == 0 ? "" : "." + String(repeating: "0", count: digits - fraction.count) + fraction)
        }
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }

    /// Runs a Python peer and reads the seconds it prints last; `nil` when Python or its packages are missing.
    static func pythonSeconds(_ script: String, arguments: [String]) -> Double? {
        guard let output = try? Subprocess.run(["python3", "-c", script] + arguments) else { return nil }
        return output.split(whereSeparator: \.isNewline).reversed().lazy.compactMap { Double($0) }.first
    }
}
