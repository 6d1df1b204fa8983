extension Tensor {
    /// `op(a) · op(b)` through ``Kernels/matmul(_:transposeA:lda:_:transposeB:ldb:into:ldc:m:n:k:alpha:beta:)``.
    /// - Parameters:
    ///   - a: `[m, k]`, or `[k, m]` when `transposeA`.
    ///   - b: `[k, n]`, or `[n, k]` when `transposeB` (a weight stored `[out, in]`).
    /// - Returns: `[m, n]`.
    /// - Throws: ``TensorError/incompatibleShapes(operation:first:second:reason:)`` when an operand is not a
    ///   matrix or the inner dimensions differ.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
        guard a.rank == 2, b.rank == 2 else {
            throw TensorError.incompatibleShapes(
                operation: "matmul", first: a.shape, second: b.shape, reason: "both operands must be matrices (rank 2)")
        }
        let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == kb else {
            throw TensorError.incompatibleShapes(
                operation: "matmul", first: a.shape, second: b.shape,
                reason: "inner dimensions \(k) and \(kb) differ (transposeA: \(transposeA), transposeB: \(transposeB))")
        }
        var c = Tensor(shape: [m, n])
        guard m > 0, n > 0 else { return c }
        if k == 0 { return c }
        a.withBase { pa in
            b.withBase { pb in
                c.withMutableBase { pc in
                    Kernels.matmul(pa, transposeA: transposeA, pb, transposeB: transposeB, into: pc, m: m, n: n, k: k)
                }
            }
        }
        return c
    }

    /// This tensor `[..., columns]` plus `bias` `[columns]` broadcast over the rows.
    /// - Throws: ``TensorError/incompatibleShapes(operation:first:second:reason:)`` when `bias` is not
    ///   `[columns]`, ``TensorError/invalidShape(operation:shape:reason:)`` for a scalar.
    public func addingBias(_ bias: Tensor, pool: ComputePool = .serial) throws -> Tensor {
        let (rows, columns) = try rowsAndColumns("addingBias")
        try checkOperand(bias, named: "bias", expected: [columns], "addingBias")
        var y = self
        bias.withBase { b in
            y.withMutableBase { Kernels.addBias($0, bias: b, rows: rows, columns: columns, pool: pool) }
        }
        return y
    }

    /// The bias gradient: `dy` `[..., columns]` summed over every row, `[columns]`.
    public static func biasBackward(_ dy: Tensor, pool: ComputePool = .serial) throws -> Tensor {
        let (rows, columns) = try dy.rowsAndColumns("biasBackward")
        var dBias = Tensor(shape: [columns])
        dy.withBase { g in
            dBias.withMutableBase { Kernels.biasBackward(g, rows: rows, columns: columns, accumulatingInto: $0, pool: pool) }
        }
        return dBias
    }
}
