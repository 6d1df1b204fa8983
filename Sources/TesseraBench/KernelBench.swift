import TesseraTensor

/// `tessera bench kernels`: every kernel measured in one run at each thread count: `Kernels.matmul` next to raw
/// `cblas_sgemm` on the same shapes, every element-wise kernel's memory bandwidth next to a STREAM triad, the
/// fused attention next to `cblas_sgemm`, and the products on stored weights next to the read bandwidth.
public enum KernelBench {
    /// Measures everything and returns the report (load averages taken before and after).
    /// - Parameters:
    ///   - threadCounts: OpenBLAS threads for matmul, `ComputePool` threads otherwise (each ≥ 1).
    ///   - repeats: timed calls per element-wise and attention point after one warm-up (≥ 1).
    ///   - matmulRepeats: timed pairs per matmul point after one warm-up call each (≥ 1).
    ///   - elementBytes: bytes per element-wise tensor (large enough to miss the last-level cache).
    ///   - machine: the machine line printed at the top.
    ///   - progress: called before each group of measurements.
    /// The OpenBLAS thread count is restored afterwards.
    public static func run(threadCounts: [Int], repeats: Int, matmulRepeats: Int, elementBytes: Int, includeMatmul: Bool,
                           machine: String, progress: (String) -> Void) throws -> KernelBenchReport {
        var report = KernelBenchReport(
            machine: machine, repeats: repeats, matmulRepeats: matmulRepeats, elementBytes: elementBytes,
            loadAverageBefore: MachineInfo.loadAverage(), loadAverageAfter: "")
        let previousBLASThreads = BLASThreads.current
        defer { BLASThreads.set(previousBLASThreads) }
        if includeMatmul {
            for shape in MatmulBench.shapes {
                for layout in MatmulBench.Layout.allCases {
                    progress("matmul \(shape.name) \(layout.rawValue) …")
                    report.matmul += MatmulBench.measure(shape: shape, layout: layout, threadCounts: threadCounts,
                                                         repeats: matmulRepeats)
                }
            }
        }
        let buffers = ElementwiseBench.Buffers(elements: elementBytes / MemoryLayout<Float>.stride)
        for count in threadCounts {
            progress("element-wise kernels on \(count) thread\(count == 1 ? "" : "s") …")
            let pool = ComputePool(threads: count)
            report.elementwise += ElementwiseBench.measure(buffers, pool: pool, repeats: repeats)
            progress("attention on \(count) thread\(count == 1 ? "" : "s") …")
            report.attention += AttentionBench.measure(pool: pool, repeats: repeats)
            progress("products on stored weights on \(count) thread\(count == 1 ? "" : "s") …")
            report.quantized += try QuantizedProductBench.measure(pool: pool)
        }
        report.loadAverageAfter = MachineInfo.loadAverage()
        return report
    }
}
