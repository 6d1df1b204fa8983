import CBLAS
import Foundation
import TesseraTensor

/// `Kernels.matmul` against raw `cblas_sgemm` on GPT-2 small's training shapes.
public enum MatmulBench {
    /// `[m, k] × [k, n]`: m tokens; (k, n) = attention output projection, MLP up, MLP down, LM head.
    public struct Shape: Sendable {
        public var m, k, n: Int
        public var name: String { "\(m)×\(k)×\(n)" }

        public init(m: Int, k: Int, n: Int) { (self.m, self.k, self.n) = (m, k, n) }
    }

    public static let shapes = [
        Shape(m: 1024, k: 768, n: 768), Shape(m: 1024, k: 768, n: 3072),
        Shape(m: 1024, k: 3072, n: 768), Shape(m: 1024, k: 768, n: 50257),
    ]

    /// Operand storage as training uses it: NN (`x · W` with W `[in, out]`, and `dy · W` for the input
    /// gradient of a `[out, in]` weight), NT (`x · Wᵀ`, a `[out, in]` weight forward), TN (`dyᵀ · x`, a
    /// weight gradient).
    public enum Layout: String, CaseIterable, Codable, Sendable {
        case nn = "NN", nt = "NT", tn = "TN"
        public var transposeA: Bool { self == .tn }
        public var transposeB: Bool { self == .nt }
    }

    /// Times both products at each thread count as `repeats` pairs, alternating which goes first in each
    /// pair, so that both calls of a pair see the same load on a shared machine: the ratio is the median
    /// over pairs of raw time / `Kernels.matmul` time, the GFLOP/s are each side's median.
    public static func measure(shape: Shape, layout: Layout, threadCounts: [Int], repeats: Int) -> [MatmulSample] {
        let (m, k, n) = (shape.m, shape.k, shape.n)
        let a = ElementwiseBench.filled(m * k, seed: 1), b = ElementwiseBench.filled(k * n, seed: 2)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        defer { [a, b, c].forEach { $0.deallocate() } }
        c.initialize(repeating: 0, count: m * n)
        let (lda, ldb) = (layout.transposeA ? m : k, layout.transposeB ? k : n)
        let tessera = {
            Kernels.matmul(a, transposeA: layout.transposeA, b, transposeB: layout.transposeB, into: c, m: m, n: n, k: k)
        }
        let raw = {
            cblas_sgemm(CblasRowMajor, layout.transposeA ? CblasTrans : CblasNoTrans,
                        layout.transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda),
                        b, Int32(ldb), 0, c, Int32(n))
        }
        return threadCounts.map { threads in
            BLASThreads.set(threads)
            tessera()
            raw()
            let pairs = PairedTimer(repeats: repeats, tessera, peer: raw)
            return MatmulSample(shape: shape, layout: layout, threads: threads, seconds: pairs.median,
                                rawSeconds: pairs.peerMedian, ratio: pairs.ratio)
        }
    }
}

/// One matmul point: medians of `Kernels.matmul` and of raw `cblas_sgemm` at one thread count, and the
/// median of their paired ratios.
public struct MatmulSample: Codable {
    public var shape: String
    public var m, k, n: Int
    public var layout: MatmulBench.Layout
    public var threads: Int
    public var seconds: Double
    public var rawSeconds: Double
    /// GFLOP/s (2·m·k·n / seconds / 10⁹) of `Kernels.matmul` and of raw `cblas_sgemm`.
    public var gflops: Double
    public var rawGflops: Double
    /// The median over repeats of raw `cblas_sgemm` time / `Kernels.matmul` time in the same repeat
    /// (above 1: `Kernels.matmul` was faster). Not `gflops / rawGflops`, a ratio of medians, which
    /// load changes between calls make swing.
    public var ratio: Double

    public init(shape: MatmulBench.Shape, layout: MatmulBench.Layout, threads: Int, seconds: Double, rawSeconds: Double,
         ratio: Double) {
        (self.shape, m, k, n) = (shape.name, shape.m, shape.k, shape.n)
        (self.layout, self.threads, self.seconds, self.rawSeconds) = (layout, threads, seconds, rawSeconds)
        let flops = 2 * Double(m) * Double(k) * Double(n)
        gflops = flops / seconds / 1e9
        rawGflops = flops / rawSeconds / 1e9
        self.ratio = ratio
    }
}
