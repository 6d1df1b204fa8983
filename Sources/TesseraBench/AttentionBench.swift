import CBLAS
import Foundation
import TesseraTensor

/// The fused attention kernels on one GPT-2 small layer (1024 tokens, 12 heads of 64, causal), next to
/// `cblas_sgemm` on the shape of one head's whole score matrix, `[1024, 64] × [64, 1024]`.
public enum AttentionBench {
    public static let shape = AttentionShape(batch: 1, queryLength: 1024, heads: 12, kvHeads: 12, headDim: 64)

    /// Multiply-adds × 2 of the products attention does on the visible (causal) score entries: forward
    /// `Q·Kᵀ` and `P·V`; backward recomputes `Q·Kᵀ` and adds `dOut·Vᵀ`, `Pᵀ·dOut`, `dSᵀ·Q`, `dS·K`.
    public static func flops(products: Int) -> Double {
        let visible = Double(shape.queryLength) * Double(shape.queryLength + 1) / 2
        return Double(products) * 2 * visible * Double(shape.headDim) * Double(shape.heads)
    }

    /// Times forward and backward on `pool` (OpenBLAS at one thread: the tiles are single-threaded products)
    /// and the peer product with `pool.threadCount` OpenBLAS threads.
    public static func measure(pool: ComputePool, repeats: Int) -> [AttentionSample] {
        let s = shape, rowQ = s.heads * s.headDim, rows = s.batch * s.queryLength
        let q = ElementwiseBench.filled(rows * rowQ, seed: 30), k = ElementwiseBench.filled(rows * rowQ, seed: 31)
        let v = ElementwiseBench.filled(rows * rowQ, seed: 32), dOut = ElementwiseBench.filled(rows * rowQ, seed: 33)
        let out = UnsafeMutablePointer<Float>.allocate(capacity: rows * rowQ)
        let gradients = (0..<3).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: rows * rowQ) }
        let logSumExp = UnsafeMutablePointer<Float>.allocate(capacity: s.heads * s.queryLength)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: s.queryLength * s.queryLength)
        defer { ([q, k, v, dOut, out, logSumExp, scores] + gradients).forEach { $0.deallocate() } }
        let forward = {
            Kernels.attention(q: q, qStride: rowQ, k: k, v: v, kvStride: rowQ, into: out, outStride: rowQ,
                              logSumExp: logSumExp, shape: s, pool: pool)
        }
        let backward = {
            Kernels.attentionBackward(
                dOut: dOut, q: q, qStride: rowQ, k: k, v: v, kvStride: rowQ, out: out, outStride: rowQ,
                logSumExp: logSumExp, dq: gradients[0], dk: gradients[1], dv: gradients[2], shape: s, pool: pool)
        }
        let (m, n, d) = (s.queryLength, s.queryLength, s.headDim)
        let peer = {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(d), 1, q, Int32(rowQ), k,
                        Int32(rowQ), 0, scores, Int32(n))
        }
        BLASThreads.set(pool.threadCount)
        peer()
        let peerSeconds = BenchStatistics.median((0..<max(repeats, 5)).map { _ in BenchStatistics.seconds(peer) })
        let peerGflops = 2 * Double(m * n * d) / peerSeconds / 1e9
        BLASThreads.set(1)
        return [("forward", forward, 2), ("backward", backward, 5)].map { pass, run, products in
            run()
            let seconds = BenchStatistics.median((0..<repeats).map { _ in BenchStatistics.seconds(run) })
            return AttentionSample(pass: pass, threads: pool.threadCount, seconds: seconds,
                                   gflops: flops(products: products) / seconds / 1e9, sgemmGflops: peerGflops)
        }
    }
}

/// One attention point: the median time of a pass, its GFLOP/s, and the peer product's GFLOP/s.
public struct AttentionSample: Codable {
    public var pass: String
    public var threads: Int
    public var seconds: Double
    public var gflops: Double
    public var sgemmGflops: Double

    public init(pass: String, threads: Int, seconds: Double, gflops: Double, sgemmGflops: Double) {
        (self.pass, self.threads, self.seconds, self.gflops, self.sgemmGflops) = (pass, threads, seconds, gflops, sgemmGflops)
    }
}
