extension Tensor {
    /// LayerNorm over the last dimension.
    /// - Parameters: `weight`, `bias` `[columns]` for this tensor `[..., columns]`.
    /// - Returns: `output` (this shape), and `mean`, `rstd` `[rows]` for ``layerNormBackward(_:x:weight:mean:rstd:pool:)``.
    /// - Throws: ``TensorError`` when `weight` or `bias` is not `[columns]` or this tensor is a scalar.
    public func layerNorm(
        weight: Tensor, bias: Tensor, epsilon: Float = 1e-5, pool: ComputePool = .serial
    ) throws -> (output: Tensor, mean: Tensor, rstd: Tensor) {
        let (rows, columns) = try rowsAndColumns("layerNorm")
        try checkOperand(weight, named: "weight", expected: [columns], "layerNorm")
        try checkOperand(bias, named: "bias", expected: [columns], "layerNorm")
        var output = Tensor(shape: shape), mean = Tensor(shape: [rows]), rstd = Tensor(shape: [rows])
        withBase { x in
            weight.withBase { w in
                bias.withBase { b in
                    output.withMutableBase { y in
                        mean.withMutableBase { m in
                            rstd.withMutableBase { s in
                                Kernels.layerNorm(
                                    x, weight: w, bias: b, into: y, mean: m, rstd: s, rows: rows, columns: columns,
                                    epsilon: epsilon, pool: pool)
                            }
                        }
                    }
                }
            }
        }
        return (output, mean, rstd)
    }

    /// Gradients of ``layerNorm(weight:bias:epsilon:pool:)`` for upstream gradient `dy` (the shape of `x`).
    /// - Throws: ``TensorError`` when a shape does not fit `x` `[rows, columns]`.
    public static func layerNormBackward(
        _ dy: Tensor, x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor, pool: ComputePool = .serial
    ) throws -> (dx: Tensor, dWeight: Tensor, dBias: Tensor) {
        let operation = "layerNormBackward"
        let (rows, columns) = try x.rowsAndColumns(operation)
        try x.checkOperand(dy, named: "dy", expected: x.shape, operation)
        try x.checkOperand(weight, named: "weight", expected: [columns], operation)
        try x.checkOperand(mean, named: "mean", expected: [rows], operation)
        try x.checkOperand(rstd, named: "rstd", expected: [rows], operation)
        var dx = Tensor(shape: x.shape), dWeight = Tensor(shape: [columns]), dBias = Tensor(shape: [columns])
        dy.withBase { g in
            x.withBase { xp in
                weight.withBase { w in
                    mean.withBase { m in
                        rstd.withBase { s in
                            dx.withMutableBase { dxp in
                                dWeight.withMutableBase { dw in
                                    dBias.withMutableBase { db in
                                        Kernels.layerNormBackward(
                                            g, x: xp, weight: w, mean: m, rstd: s, dx: dxp, dWeight: dw, dBias: db,
                                            rows: rows, columns: columns, pool: pool)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dx, dWeight, dBias)
    }

    /// RMSNorm over the last dimension.
    /// - Returns: `output` (this shape) and `rstd` `[rows]` for ``rmsNormBackward(_:x:weight:rstd:pool:)``.
    /// - Throws: ``TensorError`` when `weight` is not `[columns]` or this tensor is a scalar.
    public func rmsNorm(weight: Tensor, epsilon: Float = 1e-5, pool: ComputePool = .serial) throws -> (output: Tensor, rstd: Tensor) {
        let (rows, columns) = try rowsAndColumns("rmsNorm")
        try checkOperand(weight, named: "weight", expected: [columns], "rmsNorm")
        var output = Tensor(shape: shape), rstd = Tensor(shape: [rows])
        withBase { x in
            weight.withBase { w in
                output.withMutableBase { y in
                    rstd.withMutableBase { s in
                        Kernels.rmsNorm(x, weight: w, into: y, rstd: s, rows: rows, columns: columns, epsilon: epsilon, pool: pool)
                    }
                }
            }
        }
        return (output, rstd)
    }

    /// Gradients of ``rmsNorm(weight:epsilon:pool:)`` for upstream gradient `dy` (the shape of `x`).
    /// - Throws: ``TensorError`` when a shape does not fit `x` `[rows, columns]`.
    public static func rmsNormBackward(
        _ dy: Tensor, x: Tensor, weight: Tensor, rstd: Tensor, pool: ComputePool = .serial
    ) throws -> (dx: Tensor, dWeight: Tensor) {
        let operation = "rmsNormBackward"
        let (rows, columns) = try x.rowsAndColumns(operation)
        try x.checkOperand(dy, named: "dy", expected: x.shape, operation)
        try x.checkOperand(weight, named: "weight", expected: [columns], operation)
        try x.checkOperand(rstd, named: "rstd", expected: [rows], operation)
        var dx = Tensor(shape: x.shape), dWeight = Tensor(shape: [columns])
        dy.withBase { g in
            x.withBase { xp in
                weight.withBase { w in
                    rstd.withBase { s in
                        dx.withMutableBase { dxp in
                            dWeight.withMutableBase { dw in
                                Kernels.rmsNormBackward(
                                    g, x: xp, weight: w, rstd: s, dx: dxp, dWeight: dw, rows: rows, columns: columns, pool: pool)
                            }
                        }
                    }
                }
            }
        }
        return (dx, dWeight)
    }
}
