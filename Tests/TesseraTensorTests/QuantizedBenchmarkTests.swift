import Testing
import TesseraTensor

/// The benchmark's arithmetic on tiny inputs (its numbers are only meaningful in a release build).
@Suite struct QuantizedBenchmarkTests {
    @Test(arguments: [QuantizedBenchmark.Method.dotProducts, .dequantizedTiles])
    func measurementCountsTheWeightBytesOfOneProduct(method: QuantizedBenchmark.Method) throws {
        let m = try QuantizedBenchmark.measure(
            dtype: .q4_1, rows: 8, columns: 64, batch: 2, pool: ComputePool(threads: 2), method: method, coldBytes: 4096, minimumSeconds: 0)
        #expect(m.weightBytes == 8 * 2 * 20)
        #expect(m.seconds > 0 && m.gigabytesPerSecond.isFinite)
        #expect(abs(m.gigaflopsPerSecond - 2 * 8 * 64 * 2 / m.seconds / 1e9) < 1e-9 * m.gigaflopsPerSecond)
        #expect(m.description.hasPrefix("q4_1 [8, 64] batch 2 threads 2 \(method.rawValue): "))
    }

    @Test func readBandwidthIsPositive() {
        #expect(QuantizedBenchmark.readBandwidth(bytes: 1 << 20, chunkBytes: 1 << 18, pool: ComputePool(threads: 2)) > 0)
    }

    @Test func columnsThatAreNotWholeBlocksThrow() {
        #expect(throws: TensorError.self) { try QuantizedBenchmark.measure(dtype: .q4_k, rows: 2, columns: 576, pool: .serial) }
    }
}
