import CBLAS

extension Kernels {
    /// `c = alpha * op(a) * op(b) + beta * c` through `cblas_sgemm`.
    ///
    /// - Parameters:
    ///   - a: `op(a)` is `[m, k]`; stored `[m, k]` (leading dimension `lda`, default `k`) or, when
    ///     `transposeA`, `[k, m]` (default `lda` = `m`).
    ///   - b: `op(b)` is `[k, n]`; stored `[k, n]` (default `ldb` = `n`) or, when `transposeB`, `[n, k]`
    ///     (default `ldb` = `k`).
    ///   - c: `[m, n]` with leading dimension `ldc` (default `n`).
    /// Leading dimensions let callers address column blocks (one attention head, one shard) without copies.
    @inline(__always)
    public static func matmul(
        _ a: UnsafePointer<Float>, transposeA: Bool = false, lda: Int? = nil,
        _ b: UnsafePointer<Float>, transposeB: Bool = false, ldb: Int? = nil,
        into c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
        m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0
    ) {
        guard m > 0, n > 0 else { return }
        let lda = lda ?? (transposeA ? m : k)
        let ldb = ldb ?? (transposeB ? k : n)
        let ldc = ldc ?? n
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Process-wide control of OpenBLAS's thread count.
///
/// OpenBLAS 0.3.21 (Debian 12) has one thread count per process. The threads backend runs several ranks
/// in one process, so the launcher sets `cores / ranks` threads (at least 1) before the ranks start:
/// each rank's products then use its share of the cores and the ranks never ask for more than exist.
public enum BLASThreads {
    /// Sets the number of threads every subsequent `cblas_*` call may use (clamped to at least 1).
    public static func set(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }

    /// The current OpenBLAS thread count.
    public static var current: Int { Int(openblas_get_num_threads()) }

    /// Threads per rank when `ranks` ranks share `cores` cores: `max(1, cores / ranks)`.
    public static func perRank(ranks: Int, cores: Int) -> Int { max(1, cores / max(1, ranks)) }
}
