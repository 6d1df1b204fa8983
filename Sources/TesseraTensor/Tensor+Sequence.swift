extension Tensor {
    /// Embedding lookup: row `t` of the result is row `ids[t] − vocabularyStart` of `table`, or zeros for
    /// ids another rank's slice holds (vocab parallelism).
    /// - Parameters:
    ///   - ids: token ids, each in `0..<vocabularySize`.
    ///   - table: `[rows, columns]`, the ids `vocabularyStart ..< vocabularyStart + rows`.
    ///   - vocabularySize: the whole vocabulary (default: `vocabularyStart + rows`, the table ends it).
    /// - Returns: `[ids.count, columns]`.
    /// - Throws: ``TensorError/indexOutOfRange(operation:index:bound:)`` for an id outside the vocabulary,
    ///   ``TensorError/invalidShape(operation:shape:reason:)`` when `table` is not a matrix or does not fit
    ///   inside the vocabulary.
    public static func embedding(
        ids: [Int32], table: Tensor, vocabularyStart: Int = 0, vocabularySize: Int? = nil, pool: ComputePool = .serial
    ) throws -> Tensor {
        let (rows, columns) = try checkEmbedding(
            ids: ids, tableShape: table.shape, vocabularyStart: vocabularyStart, vocabularySize: vocabularySize, "embedding")
        var out = Tensor(shape: [ids.count, columns])
        ids.withUnsafeBufferPointer { idp in
            table.withBase { t in
                out.withMutableBase { o in
                    guard let idBase = idp.baseAddress else { return }
                    Kernels.embedding(
                        ids: idBase, table: t, into: o, tokens: ids.count, columns: columns,
                        vocabularyStart: vocabularyStart, vocabularyCount: rows, pool: pool)
                }
            }
        }
        return out
    }

    /// The table gradient of ``embedding(ids:table:vocabularyStart:vocabularySize:pool:)``: row `id − start`
    /// collects the sum of `dOut`'s rows for that id.
    /// - Parameters:
    ///   - dOut: `[ids.count, columns]`.
    ///   - tableShape: the shape of the table, `[rows, columns]`.
    /// - Returns: a tensor of `tableShape`.
    /// - Throws: as the forward, and ``TensorError/incompatibleShapes(operation:first:second:reason:)`` when
    ///   `dOut` is not `[ids.count, columns]`.
    public static func embeddingBackward(
        ids: [Int32], _ dOut: Tensor, tableShape: [Int], vocabularyStart: Int = 0, vocabularySize: Int? = nil,
        pool: ComputePool = .serial
    ) throws -> Tensor {
        let operation = "embeddingBackward"
        let (rows, columns) = try checkEmbedding(
            ids: ids, tableShape: tableShape, vocabularyStart: vocabularyStart, vocabularySize: vocabularySize, operation)
        guard dOut.shape == [ids.count, columns] else {
            throw TensorError.incompatibleShapes(
                operation: operation, first: tableShape, second: dOut.shape,
                reason: "dOut must be [\(ids.count), \(columns)] (one row per id)")
        }
        var dTable = Tensor(shape: tableShape)
        ids.withUnsafeBufferPointer { idp in
            dOut.withBase { g in
                dTable.withMutableBase { d in
                    guard let idBase = idp.baseAddress else { return }
                    Kernels.embeddingBackward(
                        ids: idBase, g, accumulatingInto: d, tokens: ids.count, columns: columns,
                        vocabularyStart: vocabularyStart, vocabularyCount: rows, pool: pool)
                }
            }
        }
        return dTable
    }

    private static func checkEmbedding(
        ids: [Int32], tableShape: [Int], vocabularyStart: Int, vocabularySize: Int?, _ operation: String
    ) throws -> (rows: Int, columns: Int) {
        guard tableShape.count == 2, tableShape.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.invalidShape(operation: operation, shape: tableShape, reason: "the table must be [rows, columns]")
        }
        let rows = tableShape[0]
        let size = vocabularySize ?? vocabularyStart + rows
        guard vocabularyStart >= 0, vocabularyStart + rows <= size else {
            throw TensorError.invalidShape(
                operation: operation, shape: tableShape,
                reason: "rows \(vocabularyStart)..<\(vocabularyStart + rows) do not fit a vocabulary of \(size)")
        }
        try checkIndices(ids, bound: size, operation)
        return (rows, tableShape[1])
    }
}

extension RotaryEmbedding {
    /// Rotates every head of every row of `x`.
    /// - Parameters:
    ///   - x: `[..., heads × headDim]`, one row per token.
    ///   - positions: one absolute position per row.
    ///   - inverse: rotate backwards (the backward pass).
    /// - Throws: ``TensorError`` when `headDim` is odd or the shapes do not fit.
    public func apply(to x: Tensor, heads: Int, positions: [Int32], inverse: Bool = false) throws -> Tensor {
        let operation = "RotaryEmbedding.apply"
        guard headDim > 0, headDim % 2 == 0 else {
            throw TensorError.invalidShape(operation: operation, shape: [headDim], reason: "the rotary head dimension must be even and positive")
        }
        let (rows, columns) = try x.rowsAndColumns(operation)
        guard columns == heads * headDim else {
            throw TensorError.invalidShape(
                operation: operation, shape: x.shape, reason: "the last dimension must be heads × headDim = \(heads) × \(headDim)")
        }
        guard positions.count == rows else {
            throw TensorError.incompatibleShapes(
                operation: operation, first: x.shape, second: [positions.count], reason: "one position per row: expected \(rows)")
        }
        var y = x
        positions.withUnsafeBufferPointer { p in
            y.withMutableBase { base in
                guard let positionBase = p.baseAddress else { return }
                apply(base, rowStride: columns, heads: heads, positions: positionBase, tokens: rows, inverse: inverse)
            }
        }
        return y
    }
}

extension AttentionShape {
    /// Throws unless the geometry is valid: positive sizes, `heads` a multiple of `kvHeads` (or, for a slice of
    /// a model's heads, `kvHeads` exactly the key/value heads that `heads` query heads from `groupOffset` in
    /// groups of `groupSize` read), and, for causal attention, `queryLength ≤ keyLength` (every query sees at
    /// least one key).
    public func validate() throws {
        let dimensions = [batch, queryLength, keyLength, heads, kvHeads, headDim, groupSize]
        let operation = "attention"
        guard dimensions.allSatisfy({ $0 > 0 }) else {
            throw TensorError.invalidShape(
                operation: operation, shape: dimensions,
                reason: "batch, queryLength, keyLength, heads, kvHeads, headDim and groupSize must all be positive")
        }
        guard (0..<groupSize).contains(groupOffset), kvHeads == (groupOffset + heads + groupSize - 1) / groupSize else {
            throw TensorError.invalidShape(
                operation: operation, shape: [heads, kvHeads, groupSize, groupOffset],
                reason: "\(heads) query heads (from place \(groupOffset) in groups of \(groupSize)) do not read exactly \(kvHeads) key/value heads;"
                    + " a whole model's heads must be a multiple of its key/value heads")
        }
        guard !isCausal || queryLength <= keyLength else {
            throw TensorError.invalidShape(
                operation: operation, shape: [queryLength, keyLength],
                reason: "causal attention needs queryLength (\(queryLength)) ≤ keyLength (\(keyLength))")
        }
    }

    /// `[batch, queryLength, heads × headDim]`: queries, outputs and their gradients.
    public var queryShape: [Int] { [batch, queryLength, heads * headDim] }
    /// `[batch, keyLength, kvHeads × headDim]`: keys, values and their gradients.
    public var keyShape: [Int] { [batch, keyLength, kvHeads * headDim] }
    /// `[batch, heads, queryLength]`: the log-sum-exp of each query's scores.
    public var logSumExpShape: [Int] { [batch, heads, queryLength] }
}

extension Tensor {
    /// Scaled dot-product attention over contiguous tensors.
    /// - Parameters: `q` `shape.queryShape`; `k`, `v` `shape.keyShape`.
    /// - Returns: `output` (`shape.queryShape`) and `logSumExp` (`shape.logSumExpShape`) for the backward.
    /// - Throws: ``TensorError`` for an invalid `shape` (see ``AttentionShape/validate()``) or operands
    ///   that do not have its shapes.
    public static func attention(
        q: Tensor, k: Tensor, v: Tensor, shape: AttentionShape, pool: ComputePool = .serial
    ) throws -> (output: Tensor, logSumExp: Tensor) {
        try checkAttention(q: q, keyOperands: [("k", k), ("v", v)], shape: shape, "attention")
        let rowQ = shape.heads * shape.headDim, rowK = shape.kvHeads * shape.headDim
        var output = Tensor(shape: shape.queryShape), logSumExp = Tensor(shape: shape.logSumExpShape)
        q.withBase { qp in
            k.withBase { kp in
                v.withBase { vp in
                    output.withMutableBase { o in
                        logSumExp.withMutableBase { l in
                            Kernels.attention(
                                q: qp, qStride: rowQ, k: kp, v: vp, kvStride: rowK, into: o, outStride: rowQ,
                                logSumExp: l, shape: shape, pool: pool)
                        }
                    }
                }
            }
        }
        return (output, logSumExp)
    }

    /// Gradients of ``attention(q:k:v:shape:pool:)`` for upstream gradient `dOut` (`shape.queryShape`).
    /// - Throws: as the forward, and when `output` or `logSumExp` do not have their shapes.
    public static func attentionBackward(
        dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, output: Tensor, logSumExp: Tensor, shape: AttentionShape,
        pool: ComputePool = .serial
    ) throws -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        let operation = "attentionBackward"
        try checkAttention(q: q, keyOperands: [("k", k), ("v", v)], shape: shape, operation)
        try q.checkOperand(dOut, named: "dOut", expected: shape.queryShape, operation)
        try q.checkOperand(output, named: "output", expected: shape.queryShape, operation)
        try q.checkOperand(logSumExp, named: "logSumExp", expected: shape.logSumExpShape, operation)
        let rowQ = shape.heads * shape.headDim, rowK = shape.kvHeads * shape.headDim
        var dq = Tensor(shape: shape.queryShape), dk = Tensor(shape: shape.keyShape), dv = Tensor(shape: shape.keyShape)
        dOut.withBase { g in
            q.withBase { qp in
                k.withBase { kp in
                    v.withBase { vp in
                        output.withBase { o in
                            logSumExp.withBase { l in
                                dq.withMutableBase { dqp in
                                    dk.withMutableBase { dkp in
                                        dv.withMutableBase { dvp in
                                            Kernels.attentionBackward(
                                                dOut: g, q: qp, qStride: rowQ, k: kp, v: vp, kvStride: rowK,
                                                out: o, outStride: rowQ, logSumExp: l, dq: dqp, dk: dkp, dv: dvp,
                                                shape: shape, pool: pool)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dq, dk, dv)
    }

    private static func checkAttention(
        q: Tensor, keyOperands: [(String, Tensor)], shape: AttentionShape, _ operation: String
    ) throws {
        try shape.validate()
        guard q.shape == shape.queryShape else {
            throw TensorError.shapeMismatch(operation: operation, expected: shape.queryShape, actual: q.shape)
        }
        for (name, operand) in keyOperands {
            try q.checkOperand(operand, named: name, expected: shape.keyShape, operation)
        }
    }
}
