import Foundation
import TesseraFormats

/// `tessera bench load`: time to open a checkpoint (GGUF or safetensors) and dequantize every tensor to Float32.
///
/// Columns: Tessera's time; the machine's floor for the same output (allocating arrays of the same sizes and
/// writing each element once: page faults plus memory bandwidth); and the peer, gguf-py's reader with numpy
/// dequantization (the decoder transformers uses for GGUF files), run as a subprocess in the same command.
/// Medians after one warm-up run, with the file in the page cache; one thread.
public enum LoadBench {
    /// What `tessera bench load` prints and writes (snake_case keys in JSON).
    public struct Report: Codable {
        public var benchmark = "load"
        public let model: String
        public let tensors: Int
        public let elements: Int
        public let runs: Int
        public var threads = 1
        public let openSeconds: Double
        public let totalSeconds: Double
        public let writeFloorSeconds: Double
        public let peerGGUFPySeconds: Double?

        public init(model: String, tensors: Int, elements: Int, runs: Int, openSeconds: Double, totalSeconds: Double,
                    writeFloorSeconds: Double, peerGGUFPySeconds: Double?) {
            (self.model, self.tensors, self.elements, self.runs) = (model, tensors, elements, runs)
            (self.openSeconds, self.totalSeconds) = (openSeconds, totalSeconds)
            (self.writeFloorSeconds, self.peerGGUFPySeconds) = (writeFloorSeconds, peerGGUFPySeconds)
        }
    }

    /// Opens `model` (a .gguf file, a .safetensors file or a Hugging Face directory) and dequantizes every tensor
    /// `runs + 1` times; the first run is the warm-up. The gguf-py peer runs for GGUF files when `includePeer`.
    public static func measure(model: String, runs: Int, includePeer: Bool) throws -> Report {
        var opens: [Double] = [], totals: [Double] = [], floors: [Double] = []
        var counts: [Int] = []
        for run in 0...runs {
            let start = ContinuousClock.now
            let source: any TensorSource = model.hasSuffix(".gguf")
                ? try GGUFFile(path: model) : try SafeTensorsCheckpoint(path: model)
            let opened = ContinuousClock.now
            counts = try source.tensorNames.map { try source.tensor(named: $0).count }
            let done = ContinuousClock.now
            let floor = BenchStatistics.seconds { allocateAndWrite(counts) }
            if run > 0 {
                opens.append(BenchStatistics.seconds(opened - start))
                totals.append(BenchStatistics.seconds(done - start))
                floors.append(floor)
            }
        }
        let peer = !includePeer || !model.hasSuffix(".gguf") ? nil : ggufPyPeerSeconds(model, runs: runs)
        return Report(model: model, tensors: counts.count, elements: counts.reduce(0, +), runs: runs,
                      openSeconds: BenchStatistics.median(opens), totalSeconds: BenchStatistics.median(totals),
                      writeFloorSeconds: BenchStatistics.median(floors), peerGGUFPySeconds: peer)
    }

    /// gguf-py opening the file and dequantizing every tensor with numpy; median over `runs` after a warm-up.
    static func ggufPyPeerSeconds(_ path: String, runs: Int) -> Double? {
        Subprocess.pythonSeconds("""
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
}

extension LoadBench.Report {
    /// The table `tessera bench load` prints.
    public var table: String {
        let c = BenchText.cell
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
