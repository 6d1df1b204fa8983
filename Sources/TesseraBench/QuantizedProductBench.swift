import TesseraTensor

/// `tessera bench kernels`' products on stored weights: ``QuantizedMatrix``'s dot products on the blocks (activations
/// quantized to 8 bits per block) on SmolLM2-135M's widest layer shapes, at batch 1 and 8, against the machine's read
/// bandwidth on as many threads. A decoding step reads every weight from memory once, so at batch 1 the products can
/// go no faster than that bandwidth; at batch 8 each weight block serves eight rows and the multiply-adds count more.
public enum QuantizedProductBench {
    /// A weight `[rows, columns]` of a model's layer.
    public struct Shape: Sendable {
        public let name: String
        public let rows: Int
        public let columns: Int
    }

    /// SmolLM2-135M's fused gate and up projections and its down projection.
    public static let shapes = [Shape(name: "gate+up", rows: 3072, columns: 576), Shape(name: "down", rows: 576, columns: 1536)]
    /// The types `bench generate` measures against llama.cpp.
    public static let types: [DType] = [.q4_1, .q8_0]
    /// Activation rows per product: one decoding sequence, and a batch of eight.
    public static let batches = [1, 8]

    /// Measures every type, shape and batch on `pool`'s threads, and the read bandwidth once for all of them.
    /// - Parameters:
    ///   - pool: the compute threads (the pool the rest of the run uses, so that its workers keep spinning between calls).
    ///   - coldBytes: bytes of distinct copies of each matrix cycled through, to exceed the last-level cache.
    ///   - minimumSeconds: each point repeats its product for at least this long (the median counts).
    public static func measure(pool: ComputePool, coldBytes: Int = 256 << 20, minimumSeconds: Double = 0.3) throws -> [QuantizedProductSample] {
        let bandwidth = QuantizedBenchmark.readBandwidth(bytes: coldBytes, chunkBytes: min(2 << 20, coldBytes / 4), pool: pool)
        var samples: [QuantizedProductSample] = []
        for dtype in types {
            for shape in shapes {
                for batch in batches {
                    let m = try QuantizedBenchmark.measure(dtype: dtype, rows: shape.rows, columns: shape.columns, batch: batch,
                                                           pool: pool, coldBytes: coldBytes, minimumSeconds: minimumSeconds)
                    samples.append(QuantizedProductSample(type: dtype.rawValue, shape: shape.name, rows: shape.rows, columns: shape.columns,
                                                          batch: batch, threads: pool.threadCount, seconds: m.seconds, weightBytes: m.weightBytes,
                                                          readGigabytesPerSecond: bandwidth))
                }
            }
        }
        return samples
    }
}

/// One stored-weight product: its median time, the bytes of weights it reads, and the read bandwidth on its threads.
public struct QuantizedProductSample: Codable {
    public var type: String
    public var shape: String
    public var rows: Int
    public var columns: Int
    public var batch: Int
    public var threads: Int
    public var seconds: Double
    public var weightBytes: Int
    /// Float32 sums over cold memory on `threads` threads, in GB/s.
    public var readGigabytesPerSecond: Double

    public init(type: String, shape: String, rows: Int, columns: Int, batch: Int, threads: Int, seconds: Double, weightBytes: Int,
                readGigabytesPerSecond: Double) {
        (self.type, self.shape, self.rows, self.columns, self.batch) = (type, shape, rows, columns, batch)
        (self.threads, self.seconds, self.weightBytes, self.readGigabytesPerSecond) = (threads, seconds, weightBytes, readGigabytesPerSecond)
    }

    /// Weight bytes read per second, in GB/s.
    public var weightGigabytesPerSecond: Double { Double(weightBytes) / seconds / 1e9 }
    /// Multiply-adds per second, counted as 2 operations, in GFLOP/s.
    public var gflops: Double { 2 * Double(rows * columns * batch) / seconds / 1e9 }
    /// Weight bytes per second over the read bandwidth.
    public var fractionOfBandwidth: Double { weightGigabytesPerSecond / readGigabytesPerSecond }
}
