/// The kernels of a mixture-of-experts layer: one product per expert over its contiguous group of rows, and the
/// row permutations that group tokens by expert (dispatch) and weight them back into token order (combine).
///
/// Row indices are `Int32` (a row index of a layer's activations fits); a negative index means "no row" (a
/// routing slot dropped by a capacity limit) wherever a kernel says so.
extension Kernels {
    /// For each group `g`: `c_g = op(a_g) · op(b_g) + beta · c_g`, where `a_g` and `c_g` are the `rows[g]` rows of
    /// `a` (`[Σ rows, k]`, rows `lda` apart) and `c` (`[Σ rows, n]`, rows `ldc` apart) that follow the earlier
    /// groups' rows, and `b_g = weights[g]`: `[k, n]` (leading dimension `ldb`) or, when `transposeB`, `[n, k]`.
    /// An empty group does nothing. One `cblas_sgemm` per non-empty group.
    public static func groupedMatmul(_ a: UnsafePointer<Float>, lda: Int, rows: [Int], _ weights: [UnsafePointer<Float>],
                                     transposeB: Bool, ldb: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, n: Int, k: Int,
                                     beta: Float = 0) {
        precondition(rows.count == weights.count, "groupedMatmul: \(rows.count) groups but \(weights.count) weights")
        var first = 0
        for (group, count) in rows.enumerated() {
            matmul(a + first * lda, lda: lda, weights[group], transposeB: transposeB, ldb: ldb, into: c + first * ldc, ldc: ldc,
                   m: count, n: n, k: k, beta: beta)
            first += count
        }
    }

    /// `y[i] = scales[i] · x[indices[i]]` for `rows` rows of `columns` (dense rows; `scales` `nil`: a plain copy).
    /// Every index must be a valid row of `x`.
    public static func gatherRows(_ x: UnsafePointer<Float>, indices: UnsafePointer<Int32>, scales: UnsafePointer<Float>?,
                                  into y: UnsafeMutablePointer<Float>, rows: Int, columns: Int, pool: ComputePool = .serial) {
        forEachRowRange(rows: rows, columns: columns, pool: pool) { range in
            for i in range {
                let source = x + Int(indices[i]) * columns, target = y + i * columns
                if let scales {
                    target.update(repeating: 0, count: columns)
                    axpy(source, alpha: scales[i], accumulatingInto: target, count: columns)
                } else {
                    target.update(from: source, count: columns)
                }
            }
        }
    }

    /// `y[t] = Σ_k weights[t, k] · x[sources[t, k]]` over the `topK` slots of each of `tokens` rows, skipping
    /// slots whose source is negative (`weights` `nil`: every weight 1). Overwrites `y` (`[tokens, columns]`); a
    /// token with no source gets zeros. The slots are summed in `k` order, so the result does not depend on where
    /// the rows of `x` came from.
    public static func combineRows(_ x: UnsafePointer<Float>, sources: UnsafePointer<Int32>, weights: UnsafePointer<Float>?,
                                   into y: UnsafeMutablePointer<Float>, tokens: Int, topK: Int, columns: Int,
                                   pool: ComputePool = .serial) {
        forEachRowRange(rows: tokens, columns: columns * topK, pool: pool) { range in
            for t in range {
                let target = y + t * columns
                target.update(repeating: 0, count: columns)
                for slot in t * topK..<(t + 1) * topK where sources[slot] >= 0 {
                    axpy(x + Int(sources[slot]) * columns, alpha: weights?[slot] ?? 1, accumulatingInto: target, count: columns)
                }
            }
        }
    }

    /// The gradient of ``combineRows(_:sources:weights:into:tokens:topK:columns:pool:)`` with respect to its
    /// weights: `dWeights[t, k] = dy[t] · x[sources[t, k]]`, 0 for a negative source. Overwrites `dWeights`
    /// (`[tokens, topK]`).
    public static func combineWeightGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, sources: UnsafePointer<Int32>,
                                             into dWeights: UnsafeMutablePointer<Float>, tokens: Int, topK: Int, columns: Int) {
        for t in 0..<tokens {
            for slot in t * topK..<(t + 1) * topK {
                dWeights[slot] = sources[slot] < 0 ? 0 : VectorMath.dot(dy + t * columns, x + Int(sources[slot]) * columns, count: columns)
            }
        }
    }
}

extension CPUBackend {
    public func groupedMatmul(_ a: UnsafePointer<Float>, lda: Int, rows: [Int], _ weights: [UnsafePointer<Float>], transposeB: Bool,
                              ldb: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, n: Int, k: Int, beta: Float) {
        Kernels.groupedMatmul(a, lda: lda, rows: rows, weights, transposeB: transposeB, ldb: ldb, into: c, ldc: ldc, n: n, k: k, beta: beta)
    }

    public func gatherRows(_ x: UnsafePointer<Float>, indices: UnsafePointer<Int32>, scales: UnsafePointer<Float>?,
                           into y: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        Kernels.gatherRows(x, indices: indices, scales: scales, into: y, rows: rows, columns: columns, pool: pool)
    }

    public func combineRows(_ x: UnsafePointer<Float>, sources: UnsafePointer<Int32>, weights: UnsafePointer<Float>?,
                            into y: UnsafeMutablePointer<Float>, tokens: Int, topK: Int, columns: Int) {
        Kernels.combineRows(x, sources: sources, weights: weights, into: y, tokens: tokens, topK: topK, columns: columns, pool: pool)
    }

    public func combineWeightGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, sources: UnsafePointer<Int32>,
                                      into dWeights: UnsafeMutablePointer<Float>, tokens: Int, topK: Int, columns: Int) {
        Kernels.combineWeightGradient(dy, x, sources: sources, into: dWeights, tokens: tokens, topK: topK, columns: columns)
    }
}
