import Foundation

/// The results of `tessera bench kernels`: printed as two tables, saved as JSON.
public struct KernelBenchReport: Codable {
    public var machine: String
    public var repeats: Int
    /// Timed pairs per matmul point.
    public var matmulRepeats: Int
    /// Bytes per element-wise tensor.
    public var elementBytes: Int
    public var loadAverageBefore: String
    public var loadAverageAfter: String
    public var matmul: [MatmulSample] = []
    public var elementwise: [ElementwiseSample] = []
    public var attention: [AttentionSample] = []
    public var quantized: [QuantizedProductSample] = []

    public init(machine: String, repeats: Int, matmulRepeats: Int, elementBytes: Int, loadAverageBefore: String,
                loadAverageAfter: String) {
        (self.machine, self.repeats, self.matmulRepeats, self.elementBytes) = (machine, repeats, matmulRepeats, elementBytes)
        (self.loadAverageBefore, self.loadAverageAfter) = (loadAverageBefore, loadAverageAfter)
    }

    /// The tables `tessera bench kernels` prints: matmul, element-wise kernels, attention, products on stored weights.
    public func table() -> String {
        var lines = [
            "Kernels on \(machine); median of \(repeats) calls (matmul: \(matmulRepeats) pairs) after a warm-up.",
            "Load average (1, 5, 15 min) before: \(loadAverageBefore), after: \(loadAverageAfter) (the CPU is shared).",
        ]
        let threadCounts = Array(Set(matmul.map(\.threads) + elementwise.map(\.threads))).sorted()
        if !matmul.isEmpty {
            lines += ["", "matmul [m, k] × [k, n], GFLOP/s = 2·m·k·n / s / 10⁹; threads = OpenBLAS threads;",
                      "NN: B stored [k, n]; NT: B stored [n, k]; TN: A stored [k, m]. Each repeat times both back to back (order",
                      "alternating); GFLOP/s are medians; ratio = median over repeats of cblas_sgemm time / Kernels.matmul time",
                      "of the same repeat (paired; above 1: Kernels.matmul faster)."]
            var rows = [["m×k×n", "layout"] + threadCounts.flatMap { ["\($0)T Kernels.matmul", "cblas_sgemm", "ratio"] }]
            for shape in MatmulBench.shapes {
                for layout in MatmulBench.Layout.allCases {
                    var row = [shape.name, layout.rawValue]
                    for threads in threadCounts {
                        let sample = matmul.first { $0.shape == shape.name && $0.layout == layout && $0.threads == threads }
                        row += [BenchText.number(sample?.gflops, 1), BenchText.number(sample?.rawGflops, 1), BenchText.number(sample?.ratio, 3)]
                    }
                    if row.count > 2 && row.dropFirst(2).contains(where: { $0 != "–" }) { rows.append(row) }
                }
            }
            lines += BenchText.aligned(rows)
        }
        if !elementwise.isEmpty {
            let megabytes = elementBytes >> 20
            lines += ["", "element-wise kernels on \(megabytes) MiB tensors (N floats), GB/s = 10⁹ bytes/s; threads = ComputePool threads.",
                      "bytes = inputs read once + outputs written once (C = row width: 768 for bias and norms, 1024 for softmax,",
                      "50257 for cross-entropy; R = rows). triad: a[i] = b[i] + s·c[i] on the same tensors (12N bytes), timed",
                      "alternately with each kernel; % triad = kernel GB/s / triad GB/s."]
            var rows = [["kernel", "pass", "bytes"] + threadCounts.flatMap { ["\($0)T GB/s", "triad", "% triad"] } + ["target"]]
            var seen: [String] = []
            for sample in elementwise where !seen.contains(sample.kernel + sample.pass) {
                seen.append(sample.kernel + sample.pass)
                var row = [sample.kernel, sample.pass, sample.bytesFormula]
                for threads in threadCounts {
                    let point = elementwise.first { $0.kernel == sample.kernel && $0.pass == sample.pass && $0.threads == threads }
                    row += [BenchText.number(point?.gigabytesPerSecond, 1), BenchText.number(point?.triadGigabytesPerSecond, 1),
                            point.map { String(format: "%.0f%%", $0.fractionOfTriad * 100) } ?? "–"]
                }
                row.append(String(format: "≥ %.0f%%", sample.target * 100))
                rows.append(row)
            }
            lines += BenchText.aligned(rows)
        }
        if !attention.isEmpty {
            let s = AttentionBench.shape
            lines += ["", "fused attention, batch \(s.batch) × \(s.queryLength) tokens, \(s.heads) heads of \(s.headDim), causal;"
                      + " threads = ComputePool threads (tile products on one OpenBLAS thread).",
                      "GFLOP/s counts the products on visible scores (forward 2, backward 5); peer: cblas_sgemm"
                      + " [\(s.queryLength), \(s.headDim)] × [\(s.headDim), \(s.queryLength)] with as many OpenBLAS threads."]
            var rows = [["pass"] + threadCounts.flatMap { ["\($0)T ms", "GFLOP/s", "sgemm GFLOP/s", "ratio"] }]
            for pass in ["forward", "backward"] {
                var row = [pass]
                for threads in threadCounts {
                    let sample = attention.first { $0.pass == pass && $0.threads == threads }
                    row += [BenchText.number(sample.map { $0.seconds * 1e3 }, 1), BenchText.number(sample?.gflops, 1),
                            BenchText.number(sample?.sgemmGflops, 1), BenchText.number(sample.map { $0.gflops / $0.sgemmGflops }, 2)]
                }
                rows.append(row)
            }
            lines += BenchText.aligned(rows)
        }
        lines += quantizedTable()
        return lines.joined(separator: "\n")
    }

    /// The products on stored weights: per type, shape and batch, each thread count's time, weight GB/s, GFLOP/s, read
    /// bandwidth and share of it.
    private func quantizedTable() -> [String] {
        guard !quantized.isEmpty else { return [] }
        let threads = Array(Set(quantized.map(\.threads))).sorted()
        let lines = ["", "products on stored weights (QuantizedMatrix dot products on the blocks, activations quantized to 8 bits), SmolLM2-135M's",
                     "shapes [rows, columns], each point cycling through 256 MiB of copies so the weights come from memory; GB/s = weight",
                     "bytes read / s; bandwidth = Float32 sums over 256 MiB on as many threads; % = weight GB/s / bandwidth."]
        var rows = [["type", "shape", "batch"] + threads.flatMap { ["\($0)T µs", "GB/s", "GFLOP/s", "bandwidth", "%"] }]
        var seen: [String] = []
        for sample in quantized where !seen.contains("\(sample.type) \(sample.shape) \(sample.batch)") {
            seen.append("\(sample.type) \(sample.shape) \(sample.batch)")
            var row = [sample.type, "\(sample.shape) [\(sample.rows), \(sample.columns)]", "\(sample.batch)"]
            for count in threads {
                let point = quantized.first { $0.type == sample.type && $0.shape == sample.shape && $0.batch == sample.batch && $0.threads == count }
                row += [BenchText.number(point.map { $0.seconds * 1e6 }, 1), BenchText.number(point?.weightGigabytesPerSecond, 1),
                        BenchText.number(point?.gflops, 1), BenchText.number(point?.readGigabytesPerSecond, 1),
                        point.map { String(format: "%.0f%%", $0.fractionOfBandwidth * 100) } ?? "–"]
            }
            rows.append(row)
        }
        return lines + BenchText.aligned(rows)
    }
}
