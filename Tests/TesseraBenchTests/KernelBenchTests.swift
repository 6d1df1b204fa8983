import Foundation
import Testing
import TesseraBench
import TesseraTensor

@Suite struct KernelBenchTests {
    @Test func matmulFlopsAreTwoMKNOverSeconds() {
        let sample = MatmulSample(shape: .init(m: 100, k: 200, n: 300), layout: .nt, threads: 2, seconds: 0.012, rawSeconds: 0.006,
                                  ratio: 0.5)
        #expect(sample.shape == "100×200×300")
        #expect(abs(sample.gflops - 1) < 1e-12)
        #expect(abs(sample.rawGflops - 2) < 1e-12)
    }

    @Test func elementwiseBandwidthAgainstTheTriad() {
        let sample = ElementwiseSample(kernel: "GELU", pass: "forward", bytesFormula: "8N", bytes: 8_000_000_000, target: 0.4,
                                       threads: 1, seconds: 1, triadSeconds: 1, triadBytes: 12_000_000_000)
        #expect(sample.gigabytesPerSecond == 8)
        #expect(sample.triadGigabytesPerSecond == 12)
        #expect(abs(sample.fractionOfTriad - 2.0 / 3) < 1e-12)
    }

    /// Attention counts the products on visible scores only: T(T+1)/2 entries per head.
    @Test func attentionFlopsCountTheCausalTriangle() {
        let s = AttentionBench.shape
        let visible = Double(s.queryLength * (s.queryLength + 1) / 2)
        #expect(AttentionBench.flops(products: 2) == 2 * 2 * visible * Double(s.headDim * s.heads))
        #expect(AttentionBench.flops(products: 5) / AttentionBench.flops(products: 2) == 2.5)
    }

    @Test func reportTablesListEveryThreadCount() {
        var report = KernelBenchReport(machine: "Test CPU, 2 cores", repeats: 3, matmulRepeats: 5, elementBytes: 16 << 20,
                                       loadAverageBefore: "0.5 0.4 0.3", loadAverageAfter: "1.0 0.6 0.4")
        report.matmul = [1, 2].map {
            MatmulSample(shape: MatmulBench.shapes[0], layout: .nn, threads: $0, seconds: 0.01, rawSeconds: 0.011, ratio: 1.1)
        }
        report.elementwise = [ElementwiseSample(kernel: "GELU", pass: "forward", bytesFormula: "8N", bytes: 8 << 20, target: 0.4,
                                                threads: 1, seconds: 0.001, triadSeconds: 0.0015, triadBytes: 12 << 20)]
        report.attention = [AttentionSample(pass: "forward", threads: 2, seconds: 0.02, gflops: 50, sgemmGflops: 100)]
        report.quantized = [QuantizedProductSample(type: "q4_1", shape: "down", rows: 576, columns: 1536, batch: 8, threads: 2,
                                                   seconds: 20e-6, weightBytes: 552_960, readGigabytesPerSecond: 40)]
        let lines = report.table().split(separator: "\n").map(String.init)
        #expect(lines[0] == "Kernels on Test CPU, 2 cores; median of 3 calls (matmul: 5 pairs) after a warm-up.")
        #expect(lines.contains { $0.hasPrefix("1024×768×768") && $0.contains("NN  ") && $0.contains("120.8") && $0.hasSuffix("109.8  1.100") })
        // Only the NN layout of the first shape was measured: no row for the others.
        #expect(!lines.contains { $0.contains("NT") && $0.hasPrefix("1024×768×768") })
        #expect(lines.contains { $0.contains("GELU") && $0.contains("8.4") && $0.contains("100%") && $0.hasSuffix("≥ 40%") })
        #expect(lines.contains { $0.contains("forward") && $0.hasSuffix("20.0     50.0          100.0   0.50") })
        // 552,960 bytes in 20 µs: 27.6 GB/s, 69 % of 40; 2·576·1536·8 multiply-adds: 707.8 GFLOP/s.
        #expect(lines.contains { $0.hasPrefix("q4_1") && $0.contains("down [576, 1536]") && $0.contains("20.0") && $0.contains("27.6")
                                 && $0.contains("707.8") && $0.hasSuffix("40.0  69%") })
    }

    /// Stored-weight products: bytes and multiply-adds over the median time, the bandwidth read once per thread count.
    @Test func quantizedProductsRunOnEveryTypeShapeAndBatch() throws {
        let samples = try QuantizedProductBench.measure(pool: ComputePool(threads: 2), coldBytes: 1 << 20, minimumSeconds: 0)
        #expect(samples.count == QuantizedProductBench.types.count * QuantizedProductBench.shapes.count * QuantizedProductBench.batches.count)
        #expect(Set(samples.map(\.readGigabytesPerSecond)).count == 1)
        for sample in samples {
            #expect(sample.threads == 2 && sample.seconds > 0 && sample.fractionOfBandwidth > 0)
            let blockBytes = sample.type == "q4_1" ? 20 : 34
            #expect(sample.weightBytes == sample.rows * sample.columns / 32 * blockBytes)
            #expect(abs(sample.gflops - 2 * Double(sample.rows * sample.columns * sample.batch) / sample.seconds / 1e9) <= 1e-9 * sample.gflops)
        }
    }

    /// Every element-wise case runs and reports a positive bandwidth on small buffers (two cross-entropy rows).
    @Test func elementwiseCasesRunOnSmallBuffers() {
        let buffers = ElementwiseBench.Buffers(elements: 2 * ElementwiseBench.vocabulary)
        let samples = ElementwiseBench.measure(buffers, pool: ComputePool(threads: 1), repeats: 1)
        #expect(Set(samples.map { $0.kernel + " " + $0.pass }).count == 15)
        #expect(samples.allSatisfy { $0.gigabytesPerSecond > 0 && $0.triadGigabytesPerSecond > 0 && $0.threads == 1 })
    }
}
