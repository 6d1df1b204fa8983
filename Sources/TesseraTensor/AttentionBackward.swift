extension Kernels {
    /// Backward of ``attention(q:qStride:k:v:kvStride:into:outStride:logSumExp:shape:pool:)``, fused and
    /// tiled like FlashAttention-2's backward (Dao 2023): for each key tile, every query tile that sees it
    /// recomputes its probabilities `P = exp(scale·Q·Kᵀ − logSumExp)` and adds to `dV += Pᵀ·dOut`,
    /// `dK += scale·dSᵀ·Q` and `dQ += scale·dS·K`, with `dS = P ⊙ (dOut·Vᵀ − rowsum(dOut ⊙ out))`.
    ///
    /// Writes (overwrites) `dq` (layout of `q`), `dk` and `dv` (layout of `k`); `dOut` has the layout of
    /// `out`. The pool splits (sequence, key/value head) units, each owning its rows of `dk`, `dv` and the
    /// `dq` of its query heads; every pool size and OpenBLAS thread count gives the same bits.
    /// - Parameter accumulating: add the gradients to what `dq`, `dk` and `dv` hold instead of overwriting it.
    ///   Since `dQ` is a sum over keys, calls on consecutive key ranges of a non-causal shape (each with its
    ///   own `k`, `v`, `dk`, `dv` rows and `keyLength`) add up to the call on all the keys: context-parallel
    ///   attention adds each key block's query gradient straight into its rows this way, and a block's key/value
    ///   gradient a key tile at a time.
    /// - Precondition: `shape` is valid (``AttentionShape/validate()``).
    public static func attentionBackward(
        dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, qStride: Int,
        k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
        out: UnsafePointer<Float>, outStride: Int, logSumExp: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        shape: AttentionShape, accumulating: Bool = false, pool: ComputePool = .serial
    ) {
        precondition((try? shape.validate()) != nil, "invalid attention shape \(shape)")
        let tiles = AttentionTiles(shape)
        let operands = AttentionTiles.BackwardOperands(
            dOut: dOut, q: q, qStride: qStride, k: k, v: v, kvStride: kvStride, out: out, outStride: outStride,
            logSumExp: logSumExp, dq: dq, dk: dk, dv: dv, accumulating: accumulating)
        pool.forEachRange(count: shape.batch * shape.kvHeads, alignment: 1, minimumPerPart: 1) { range in
            let scratch = AttentionTiles.BackwardScratch(tiles)
            defer { scratch.deallocate() }
            for unit in range {
                let (b, kvh) = unit.quotientAndRemainder(dividingBy: shape.kvHeads)
                tiles.backward(b: b, kvh: kvh, operands, scratch: scratch)
            }
        }
    }
}

extension AttentionTiles {
    /// The pointers and strides of one backward call.
    struct BackwardOperands {
        let dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, qStride: Int
        let k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int
        let out: UnsafePointer<Float>, outStride: Int, logSumExp: UnsafePointer<Float>
        let dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>
        /// Add to `dq`, `dk`, `dv` rather than overwrite them.
        let accumulating: Bool
    }

    /// Probabilities and their gradients for one tile, and `rowsum(dOut ⊙ out)` for every query of the unit.
    struct BackwardScratch {
        let probabilities: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>
        let deltas: UnsafeMutablePointer<Float>

        init(_ tiles: AttentionTiles) {
            probabilities = .allocate(capacity: tiles.queryTile * tiles.keyTile)
            gradients = .allocate(capacity: tiles.queryTile * tiles.keyTile)
            deltas = .allocate(capacity: min(tiles.shape.groupSize, tiles.shape.heads) * tiles.shape.queryLength)
        }

        func deallocate() { [probabilities, gradients, deltas].forEach { $0.deallocate() } }
    }

    /// One (sequence, key/value head): its `dk`, `dv` rows and the `dq` of the query heads that read it.
    func backward(b: Int, kvh: Int, _ o: BackwardOperands, scratch: BackwardScratch) {
        let d = shape.headDim, heads = shape.queryHeads(ofKeyValueHead: kvh)
        let (tq, tk) = (shape.queryLength, shape.keyLength)
        if !o.accumulating {
            for t in 0..<tk {
                (o.dk + (b * tk + t) * o.kvStride + kvh * d).update(repeating: 0, count: d)
                (o.dv + (b * tk + t) * o.kvStride + kvh * d).update(repeating: 0, count: d)
            }
        }
        for (g, h) in heads.enumerated() {
            for i in 0..<tq {
                if !o.accumulating { (o.dq + (b * tq + i) * o.qStride + h * d).update(repeating: 0, count: d) }
                let rowOut = (b * tq + i) * o.outStride + h * d
                scratch.deltas[g * tq + i] = VectorMath.dot(o.dOut + rowOut, o.out + rowOut, count: d)
            }
        }
        let (p, dp) = (scratch.probabilities, scratch.gradients)
        for keyStart in stride(from: 0, to: tk, by: keyTile) {
            let keys = min(keyTile, tk - keyStart)
            let kvRow = (b * tk + keyStart) * o.kvStride + kvh * d
            for (g, h) in heads.enumerated() {
                for block in 0..<queryBlocks {
                    let rows = self.rows(ofBlock: block), count = rows.count
                    guard visibleKeyEnd(rows: rows) > keyStart else { continue }
                    let qRow = (b * tq + rows.lowerBound) * o.qStride + h * d
                    let outRow = (b * tq + rows.lowerBound) * o.outStride + h * d
                    Self.product(o.q + qRow, o.qStride, o.k + kvRow, o.kvStride, transposeB: true, p, keyTile,
                                 m: count, n: keys, k: d, alpha: shape.scale)
                    Self.product(o.dOut + outRow, o.outStride, o.v + kvRow, o.kvStride, transposeB: true, dp, keyTile,
                                 m: count, n: keys, k: d)
                    for r in 0..<count {
                        let i = rows.lowerBound + r
                        let visible = visibleCount(row: i, keyStart: keyStart, count: keys)
                        var step = ScoreGradient(
                            p: p + r * keyTile, dp: dp + r * keyTile,
                            logSumExp: Vector(repeating: o.logSumExp[(b * shape.heads + h) * tq + i]),
                            delta: Vector(repeating: scratch.deltas[g * tq + i]))
                        VectorMath.forEachVector(visible, &step)
                        (p + r * keyTile + visible).update(repeating: 0, count: keys - visible)
                        (dp + r * keyTile + visible).update(repeating: 0, count: keys - visible)
                    }
                    // dV += Pᵀ·dOut, dK += scale·dSᵀ·Q, dQ += scale·dS·K.
                    Self.product(p, keyTile, transposeA: true, o.dOut + outRow, o.outStride, o.dv + kvRow, o.kvStride,
                                 m: keys, n: d, k: count, beta: 1)
                    Self.product(dp, keyTile, transposeA: true, o.q + qRow, o.qStride, o.dk + kvRow, o.kvStride,
                                 m: keys, n: d, k: count, alpha: shape.scale, beta: 1)
                    Self.product(dp, keyTile, o.k + kvRow, o.kvStride, o.dq + qRow, o.qStride,
                                 m: count, n: d, k: keys, alpha: shape.scale, beta: 1)
                }
            }
        }
    }
}

/// Turns one row of scores into probabilities `P = exp(S − logSumExp)` and one row of `dP = dOut·Vᵀ` into
/// `dS = P ⊙ (dP − delta)`, in place.
private struct ScoreGradient: VectorStep {
    let p: UnsafeMutablePointer<Float>, dp: UnsafeMutablePointer<Float>
    let logSumExp: Vector, delta: Vector

    @inline(__always) mutating func callAsFunction(_ j: Int, lanes: Int) {
        let probability = VectorMath.exp(VectorMath.load(p + j, count: lanes) - logSumExp)
        VectorMath.store(probability, p + j, count: lanes)
        VectorMath.store(probability * (VectorMath.load(dp + j, count: lanes) - delta), dp + j, count: lanes)
    }
}
