#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

extension Kernels {
    /// Folds a partial attention result (the same queries against another block of keys) into a running one
    /// by the log-sum-exp rule, in fp32: with `l = log(e^{l₁} + e^{l₂})`, `out = e^{l₁−l}·out + e^{l₂−l}·partial`
    /// and `logSumExp = l`, evaluated as `m + log(e^{l₁−m} + e^{l₂−m})` with `m = max(l₁, l₂)` so nothing
    /// overflows. A running log-sum-exp of −∞ (no keys yet) takes the partial result as it is.
    ///
    /// Layouts: `partial` and `out` are `rows` rows (`partialStride` / `outStride` apart) of `heads × headDim`
    /// values, each normalized over its own keys; `partialLogSumExp` and `logSumExp` are `[heads, rows]`.
    public static func mergeAttention(
        _ partial: UnsafePointer<Float>, partialStride: Int, partialLogSumExp: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>,
        rows: Int, heads: Int, headDim: Int, pool: ComputePool = .serial
    ) {
        pool.forEachRange(count: rows, alignment: 1, minimumPerPart: max(1, pool.minimumElementsPerThread / max(1, heads * headDim))) { range in
            for h in 0..<heads {
                for r in range {
                    let running = logSumExp[h * rows + r], incoming = partialLogSumExp[h * rows + r]
                    let o = out + r * outStride + h * headDim, p = partial + r * partialStride + h * headDim
                    guard running != -.infinity else {
                        o.update(from: p, count: headDim)
                        logSumExp[h * rows + r] = incoming
                        continue
                    }
                    let m = max(running, incoming)
                    let a = expf(running - m), b = expf(incoming - m), sum = a + b
                    let keep = a / sum, add = b / sum
                    for i in 0..<headDim { o[i] = keep * o[i] + add * p[i] }
                    logSumExp[h * rows + r] = m + logf(sum)
                }
            }
        }
    }
}
