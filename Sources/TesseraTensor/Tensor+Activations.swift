extension Tensor {
    /// GELU (GPT-2's tanh approximation) of every element.
    public func gelu(pool: ComputePool = .serial) -> Tensor {
        mapped { Kernels.gelu($0, into: $1, count: $2, pool: pool) }
    }

    /// `dy · gelu'(x)`.
    /// - Throws: ``TensorError/incompatibleShapes(operation:first:second:reason:)`` unless `dy` has `x`'s shape.
    public static func geluBackward(_ x: Tensor, _ dy: Tensor, pool: ComputePool = .serial) throws -> Tensor {
        try x.zipped(dy, named: "dy", "geluBackward") { Kernels.geluBackward($0, $1, into: $2, count: $3, pool: pool) }
    }

    /// SiLU `x·σ(x)` of every element.
    public func silu(pool: ComputePool = .serial) -> Tensor {
        mapped { Kernels.silu($0, into: $1, count: $2, pool: pool) }
    }

    /// `dy · silu'(x)`.
    /// - Throws: ``TensorError/incompatibleShapes(operation:first:second:reason:)`` unless `dy` has `x`'s shape.
    public static func siluBackward(_ x: Tensor, _ dy: Tensor, pool: ComputePool = .serial) throws -> Tensor {
        try x.zipped(dy, named: "dy", "siluBackward") { Kernels.siluBackward($0, $1, into: $2, count: $3, pool: pool) }
    }

    /// `silu(gate) · up` (Llama's MLP).
    /// - Throws: ``TensorError/incompatibleShapes(operation:first:second:reason:)`` unless the shapes agree.
    public static func swiglu(gate: Tensor, up: Tensor, pool: ComputePool = .serial) throws -> Tensor {
        try gate.zipped(up, named: "up", "swiglu") { Kernels.swiglu(gate: $0, up: $1, into: $2, count: $3, pool: pool) }
    }

    /// Gradients of ``swiglu(gate:up:pool:)``.
    /// - Throws: ``TensorError/incompatibleShapes(operation:first:second:reason:)`` unless all three shapes agree.
    public static func swigluBackward(
        gate: Tensor, up: Tensor, _ dy: Tensor, pool: ComputePool = .serial
    ) throws -> (dGate: Tensor, dUp: Tensor) {
        try gate.checkOperand(up, named: "up", expected: gate.shape, "swigluBackward")
        try gate.checkOperand(dy, named: "dy", expected: gate.shape, "swigluBackward")
        var dGate = Tensor(shape: gate.shape), dUp = Tensor(shape: gate.shape)
        gate.withBase { g in
            up.withBase { u in
                dy.withBase { d in
                    dGate.withMutableBase { dg in
                        dUp.withMutableBase { du in
                            Kernels.swigluBackward(gate: g, up: u, d, dGate: dg, dUp: du, count: gate.count, pool: pool)
                        }
                    }
                }
            }
        }
        return (dGate, dUp)
    }

    /// Softmax over the last dimension.
    /// - Throws: ``TensorError/invalidShape(operation:shape:reason:)`` for a scalar.
    public func softmax(pool: ComputePool = .serial) throws -> Tensor {
        let (rows, columns) = try rowsAndColumns("softmax")
        return mapped { x, y, _ in Kernels.softmax(x, into: y, rows: rows, columns: columns, pool: pool) }
    }

    /// Softmax gradient from the softmax output `y` and the upstream gradient `dy`.
    /// - Throws: ``TensorError`` unless `dy` has `y`'s shape (not a scalar).
    public static func softmaxBackward(_ y: Tensor, _ dy: Tensor, pool: ComputePool = .serial) throws -> Tensor {
        let (rows, columns) = try y.rowsAndColumns("softmaxBackward")
        return try y.zipped(dy, named: "dy", "softmaxBackward") { p, g, dx, _ in
            Kernels.softmaxBackward(p, g, into: dx, rows: rows, columns: columns, pool: pool)
        }
    }

    /// Per-row cross-entropy `logsumexp(logits[r]) − logits[r, targets[r]]`.
    /// - Parameters: `logits` `[..., vocabulary]`; `targets` one per row.
    /// - Returns: `[rows]` losses.
    /// - Throws: ``TensorError`` when the target count differs from the row count or a target lies outside
    ///   `0..<vocabulary`.
    public static func crossEntropy(logits: Tensor, targets: [Int32], pool: ComputePool = .serial) throws -> Tensor {
        let (rows, vocabulary) = try checkCrossEntropy(logits: logits, targets: targets, "crossEntropy")
        var losses = Tensor(shape: [rows])
        logits.withBase { l in
            targets.withUnsafeBufferPointer { t in
                losses.withMutableBase { out in
                    if rows > 0 { Kernels.crossEntropy(logits: l, targets: t.baseAddress!, losses: out, rows: rows, vocabulary: vocabulary, pool: pool) }
                }
            }
        }
        return losses
    }

    /// Fused softmax cross-entropy: the per-row losses and `gradientScale · (softmax − onehot(target))`.
    /// - Returns: `losses` `[rows]` and `gradients` with the shape of `logits`.
    /// - Throws: as ``crossEntropy(logits:targets:pool:)``.
    public static func crossEntropyWithGradient(
        logits: Tensor, targets: [Int32], gradientScale: Float, pool: ComputePool = .serial
    ) throws -> (losses: Tensor, gradients: Tensor) {
        let (rows, vocabulary) = try checkCrossEntropy(logits: logits, targets: targets, "crossEntropyWithGradient")
        var losses = Tensor(shape: [rows]), gradients = logits
        targets.withUnsafeBufferPointer { t in
            gradients.withMutableBase { g in
                losses.withMutableBase { out in
                    if rows > 0 {
                        Kernels.crossEntropyWithGradient(
                            logitsToGradients: g, targets: t.baseAddress!, losses: out, rows: rows, vocabulary: vocabulary,
                            gradientScale: gradientScale, pool: pool)
                    }
                }
            }
        }
        return (losses, gradients)
    }

    private static func checkCrossEntropy(logits: Tensor, targets: [Int32], _ operation: String) throws -> (Int, Int) {
        let (rows, vocabulary) = try logits.rowsAndColumns(operation)
        guard targets.count == rows else {
            throw TensorError.incompatibleShapes(
                operation: operation, first: logits.shape, second: [targets.count],
                reason: "one target per row of logits: expected \(rows) targets")
        }
        try checkIndices(targets, bound: vocabulary, operation)
        return (rows, vocabulary)
    }

    /// A tensor of this shape whose elements `body(input, output, count)` writes.
    func mapped(_ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        var y = Tensor(shape: shape)
        withBase { x in y.withMutableBase { body(x, $0, count) } }
        return y
    }

    /// A tensor of this shape from this tensor and `other` (which must have the same shape).
    func zipped(
        _ other: Tensor, named name: String, _ operation: String,
        _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
    ) throws -> Tensor {
        try checkOperand(other, named: name, expected: shape, operation)
        var y = Tensor(shape: shape)
        withBase { a in other.withBase { b in y.withMutableBase { body(a, b, $0, count) } } }
        return y
    }
}
