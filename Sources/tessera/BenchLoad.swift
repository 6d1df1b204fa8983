import ArgumentParser
import TesseraFormats
import TesseraTensor
#if canImport(Glibc)
import Glibc
#endif

/// `tessera bench load`: time to open a checkpoint (GGUF or safetensors) and dequantize every tensor to Float32.
///
/// Columns: Tessera's time; the machine's floor for the same work (writing the Float32 output once, measured as a
/// plain fill of a buffer that size); and the peer, gguf-py's reader with numpy dequantization (the decoder
/// transformers uses for GGUF files), run as a subprocess in the same command. Medians after one warm-up run, with
/// the file in the page cache; one thread.
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

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    func run() throws {
        var opens: [Double] = [], totals: [Double] = [], fills: [Double] = []
        var elements = 0, tensors = 0
        for run in 0...runs {
            let start = FormatBench.now
            let source: any TensorSource = model.hasSuffix(".gguf")
                ? try GGUFFile(path: model) : try SafeTensorsCheckpoint(path: model)
            let opened = FormatBench.now
            var counts: [Int] = [], checksum: Float = 0
            for name in source.tensorNames {
                let tensor = try source.tensor(named: name)
                counts.append(tensor.count)
                checksum += tensor.count > 0 ? tensor[flat: 0] : 0
            }
            let done = FormatBench.now
            let fill = FormatBench.fillSeconds(counts: counts)
            let count = counts.reduce(0, +)
            if run > 0 {
                opens.append(opened - start)
                totals.append(done - start)
                fills.append(fill)
            }
            elements = count
            tensors = source.tensorNames.count
            if checksum.isNaN { print("note: a tensor starts with NaN") }
        }
        let peer = noPeer || !model.hasSuffix(".gguf") ? nil : Self.ggufPyPeerSeconds(model, runs: runs)
        let total = FormatBench.median(totals), floor = FormatBench.median(fills)
        print("tessera bench load: \(model)")
        print("  \(tensors) tensors, \(elements) elements -> \(elements * 4 / 1_000_000) MB of Float32; 1 thread; median of \(runs) runs after a warm-up (page cache warm)")
        print("")
        print("  | step                         | tessera (s) | floor: write output (s) | gguf-py + numpy (s) | tessera / floor |")
        print("  |------------------------------|-------------|-------------------------|---------------------|-----------------|")
        print("  | open + validate header       | \(FormatBench.cell(FormatBench.median(opens), 11)) | \(FormatBench.cell(nil, 23)) | \(FormatBench.cell(nil, 19)) | \(FormatBench.cell(nil, 15)) |")
        print("  | open + dequantize all to F32 | \(FormatBench.cell(total, 11)) | \(FormatBench.cell(floor, 23)) | \(FormatBench.cell(peer, 19)) | \(FormatBench.cell(total / floor, 15, digits: 1)) |")
        print("")
        print(total < 1 ? "  under the 1 s target" : "  ABOVE the 1 s target")
        if let json {
            let text = """
                {"benchmark":"load","model":"\(model)","tensors":\(tensors),"elements":\(elements),"runs":\(runs),\
                "open_seconds":\(FormatBench.median(opens)),"total_seconds":\(total),"fill_floor_seconds":\(floor),\
                "peer_gguf_py_seconds":\(peer.map { "\($0)" } ?? "null"),"threads":1}
                """
            try FormatBench.write(text + "\n", to: json)
        }
    }

    /// gguf-py opening the file and dequantizing every tensor with numpy; median over `runs` after a warm-up.
    static func ggufPyPeerSeconds(_ path: String, runs: Int) -> Double? {
        let script = """
            import statistics, sys, time
            import gguf, numpy
            times = []
            for i in range(\(runs) + 1):
                t = time.perf_counter()
                r = gguf.GGUFReader(sys.argv[1])
                for x in r.tensors:
                    gguf.quants.dequantize(x.data, x.tensor_type).astype(numpy.float32)
                times.append(time.perf_counter() - t)
            print(statistics.FormatBench.median(times[1:]))
            """
        return FormatBench.python(script, arguments: [path]).flatMap(Double.init)
    }
}

/// Timing, formatting and peer-process helpers shared by the format benchmarks.
enum FormatBench {
    static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Seconds to allocate arrays of `counts` Float32 values and write each element once: the floor for
    /// producing that output (page faults plus memory bandwidth), whatever the decoding costs.
    static func fillSeconds(counts: [Int]) -> Double {
        let start = now
        var sink: Float = 0
        for count in counts {
            let array = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count { buffer[i] = Float(i & 7) }
                initialized = count
            }
            sink += array.last ?? 0
        }
        let seconds = now - start
        if sink.isNaN { print("", terminator: "") }
        return seconds
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// `value` right-aligned in `width` columns with `digits` decimals ("n/a" for nil).
    static func cell(_ value: Double?, _ width: Int, digits: Int = 3) -> String {
        var text = "n/a"
        if let value, value.isFinite {
            let scale = (0..<digits).reduce(1.0) { r, _ in r * 10 }
            let scaled = Int((value * scale).rounded())
            let whole = String(scaled / Int(scale)), fraction = String(scaled % Int(scale))
            text = digits == 0 ? whole : whole + "." + String(repeating: "0", count: digits - fraction.count) + fraction
        }
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }

    /// Runs `python3 -c script args…` and returns the last line of its output, or `nil` if it fails.
    static func python(_ script: String, arguments: [String]) -> String? {
        let quoted = ([script] + arguments).map { argument in
            "'" + argument.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
        }
        guard let pipe = popen("python3 -c " + quoted.joined(separator: " ") + " 2>/dev/null", "r") else { return nil }
        var output = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), pipe) != nil {
            output += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        guard pclose(pipe) == 0 else { return nil }
        return output.split(whereSeparator: \.isNewline).last.map(String.init)
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw ValidationError("cannot read \(path)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    static func write(_ text: String, to path: String) throws {
        guard let file = fopen(path, "w") else { throw ValidationError("cannot write \(path)") }
        defer { fclose(file) }
        fputs(text, file)
    }
}
