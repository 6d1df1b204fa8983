/// Timing of the in-place products: weight bytes read per second, against the machine's read bandwidth.
///
/// The measurements behind `tessera bench kernels`' stored-weight products (the library never calls it). Decoding a
/// whole model reads every weight once per token from memory, not from cache, so
/// ``measure(dtype:rows:columns:batch:pool:method:coldBytes:minimumSeconds:)`` cycles through enough copies of the
/// matrix to exceed the last-level cache.
public enum QuantizedBenchmark {
    /// Which product is timed.
    public enum Method: String, Sendable {
        /// ``QuantizedMatrix/multiply(rows:pool:path:)``: dot products on the blocks with 8-bit activations.
        case dotProducts
        /// ``QuantizedMatrix/multiplyDequantizingTiles(rows:)``: Float32 tiles through `cblas_sgemm`.
        case dequantizedTiles
    }

    /// One timed configuration.
    public struct Measurement: Sendable, CustomStringConvertible {
        public let dtype: DType
        public let rows: Int
        public let columns: Int
        public let batch: Int
        public let threads: Int
        public let method: Method
        /// Median seconds per product.
        public let seconds: Double
        /// Bytes of weights one product reads.
        public let weightBytes: Int

        /// Weight bytes read per second, in GB/s.
        public var gigabytesPerSecond: Double { Double(weightBytes) / seconds / 1e9 }
        /// Multiply-adds per second, counted as 2 operations, in GFLOP/s.
        public var gigaflopsPerSecond: Double { 2 * Double(rows * columns * batch) / seconds / 1e9 }

        public var description: String {
            return "\(dtype) [\(rows), \(columns)] batch \(batch) threads \(threads) \(method.rawValue): \(Self.format(seconds * 1e6)) µs, "
                + "\(Self.format(gigabytesPerSecond)) GB/s of weights, \(Self.format(gigaflopsPerSecond)) GFLOP/s"
        }

        static func format(_ value: Double) -> String { String((value * 10).rounded() / 10) }
    }

    /// Times `W x` (`batch` 1) or `X Wᵀ` for a `[rows, columns]` matrix of normal values stored as `dtype`.
    ///
    /// - Parameters:
    ///   - pool: the threads of ``Method/dotProducts``; its size is the OpenBLAS thread count for
    ///     ``Method/dequantizedTiles`` (restored afterwards). Pass the pool the caller's other work uses: a second
    ///     live pool with workers can take the threads over the core count, and then no pool spins.
    ///   - coldBytes: at least this many bytes of distinct copies of the matrix are cycled through.
    ///   - minimumSeconds: products are repeated for at least this long; the median is reported.
    /// - Throws: ``TensorError`` when `columns` is not whole blocks of `dtype`.
    public static func measure(
        dtype: DType, rows: Int, columns: Int, batch: Int = 1, pool: ComputePool, method: Method = .dotProducts,
        coldBytes: Int = 256 << 20, minimumSeconds: Double = 0.3
    ) throws -> Measurement {
        let random = DeterministicRandom(seed: 16, stream: "bench.quantized")
        let values = try Tensor(shape: [rows, columns], scalars: (0..<(rows * columns)).map { random.uniform(at: $0) * 2 - 1 })
        let stored = try QuantizedTensor(quantizing: values, as: dtype)
        let copies = try (0..<max(1, coldBytes / max(1, stored.bytes.count))).map { _ in
            try QuantizedMatrix(dtype: dtype, rows: rows, columns: columns, bytes: stored.bytes)
        }
        let x = try Tensor(shape: [batch, columns], scalars: (0..<(batch * columns)).map { random.uniform(at: rows * columns + $0) - 0.5 })
        let threads = pool.threadCount, blasThreads = BLASThreads.current
        BLASThreads.set(threads)
        defer { BLASThreads.set(blasThreads) }
        var times: [Double] = []
        let clock = ContinuousClock(), start = clock.now
        var index = 0
        while times.count < 5 || (clock.now - start) < .seconds(minimumSeconds) {
            let matrix = copies[index % copies.count]
            index += 1
            let began = clock.now
            _ = method == .dotProducts ? try matrix.multiply(rows: x, pool: pool) : try matrix.multiplyDequantizingTiles(rows: x)
            let elapsed = clock.now - began
            times.append(elapsed.seconds)
        }
        return Measurement(
            dtype: dtype, rows: rows, columns: columns, batch: batch, threads: threads, method: method,
            seconds: times.sorted()[times.count / 2], weightBytes: stored.bytes.count)
    }

    /// Read bandwidth in GB/s: Float32 sums over `bytes` of memory on `pool`'s threads, timed in chunks of
    /// `chunkBytes` (the median chunk counts, so a chunk in which the thread lost its core does not).
    public static func readBandwidth(bytes: Int = 256 << 20, chunkBytes: Int = 2 << 20, pool: ComputePool) -> Double {
        let count = bytes / MemoryLayout<Float>.stride, chunk = chunkBytes / MemoryLayout<Float>.stride
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1, count: count)
        let clock = ContinuousClock()
        var times: [Double] = [], sink: Float = 0
        var sums = [Float](repeating: 0, count: pool.threadCount)
        for _ in 0..<3 {
            for start in stride(from: 0, to: count - chunk + 1, by: chunk) {
                let began = clock.now
                sums.withUnsafeMutableBufferPointer { sums in
                    let ranges = pool.ranges(count: chunk, minimumPerPart: 1)
                    pool.run(parts: ranges.count) { part in
                        sums[part] = VectorMath.sum(buffer + start + ranges[part].lowerBound, count: ranges[part].count)
                    }
                }
                let elapsed = clock.now - began
                times.append(elapsed.seconds)
                sink += sums.reduce(0, +)
            }
        }
        precondition(sink > 0, "the sums must be used so the passes are not optimized away")
        return Double(chunkBytes) / times.sorted()[times.count / 2] / 1e9
    }
}
