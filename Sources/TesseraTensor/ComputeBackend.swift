/// The kernels a layer calls, behind one seam: layers hold a backend and never call ``Kernels`` directly, so
/// the same layer code can run on another device by swapping the backend.
///
/// Contract for every method: buffers are row-major `Float` on the backend's device (host memory for
/// ``CPUBackend``), at least as large as the shapes say; nothing is checked here (these sit in the hot loop);
/// outputs may not alias inputs unless a method says so; "accumulating" outputs are added to (`+=`), others are
/// overwritten. Results must not depend on how many threads a backend uses.
///
/// What a CUDA backend would implement: buffers become device allocations (``copy(_:into:count:)`` and
/// allocation through the backend, host transfers only at the edges: token ids in, losses and logits out);
/// ``matmul(_:transposeA:lda:_:transposeB:ldb:into:ldc:m:n:k:alpha:beta:)`` maps to `cublasSgemm` (column-major,
/// so it swaps the operands); the element-wise, normalization, softmax-statistics, embedding, cross-entropy and
/// AdamW methods become fused kernels launched on the rank's stream; ``attention(q:qStride:k:v:kvStride:into:outStride:logSumExp:shape:)``
/// and its backward a FlashAttention-style kernel that returns the same log-sum-exp; and the communicator
/// beside it would be NCCL on the same stream. No GPU code exists yet.
public protocol ComputeBackend: Sendable {
    /// `c = alpha · op(a) · op(b) + beta · c` with `op(a): [m, k]`, `op(b): [k, n]`, `c: [m, n]`; leading
    /// dimensions default to the dense ones.
    func matmul(_ a: UnsafePointer<Float>, transposeA: Bool, lda: Int?, _ b: UnsafePointer<Float>, transposeB: Bool, ldb: Int?,
                into c: UnsafeMutablePointer<Float>, ldc: Int?, m: Int, n: Int, k: Int, alpha: Float, beta: Float)
    /// `y = x · Wᵀ` (`transposedWeight`, `W: [n, k]`) or `y = x · W` (`W: [k, n]`) for `x: [rows, k]`, `y: [rows, n]`,
    /// with every output row computed in an order that does not depend on `rows` (batch-invariant decoding: a row's
    /// bits are the same alone or stacked with others). Slower than ``matmul(_:transposeA:lda:_:transposeB:ldb:into:ldc:m:n:k:alpha:beta:)``
    /// for many rows; a CUDA backend would use a kernel with a fixed split of the reduction (no split-k by size).
    func rowStableMatmul(_ x: UnsafePointer<Float>, ldx: Int, _ w: UnsafePointer<Float>, transposedWeight: Bool, ldw: Int,
                         into y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, n: Int, k: Int)
    /// `y[t] = W x[t]` for `rows` rows of `x: [rows, columns]` (`ldx` apart) and weights `W` kept in their stored type
    /// (``QuantizedMatrix``, all with `columns` columns), their outputs side by side in `y` (`ldy` apart; weight `i`
    /// from the column after the rows of the weights before it): the inference path of a linear layer (one call for
    /// its fused projections), which never builds a Float32 copy of a weight. `rowStable`: every row by the block dot
    /// products, whose result does not depend on `rows` (batched decoding), never by dequantized tiles. A CUDA backend
    /// would run llama.cpp-style block kernels (MMVQ/MMQ) here.
    func matmul(_ x: UnsafePointer<Float>, ldx: Int, stored weights: [QuantizedMatrix], into y: UnsafeMutablePointer<Float>, ldy: Int,
                rows: Int, rowStable: Bool)
    /// Rows of a table kept in its stored type for `ids` inside `vocabularyStart ..< vocabularyStart + table.rows`
    /// (each row decoded on its own), zeros for the others; `out: [tokens, table.columns]`.
    func embedding(ids: UnsafePointer<Int32>, stored table: QuantizedMatrix, into out: UnsafeMutablePointer<Float>, tokens: Int,
                   vocabularyStart: Int)
    /// `y = a + b` over `count` elements (`y` may alias `a` or `b`).
    func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int)
    /// `y += alpha · x` over `count` elements.
    func axpy(_ x: UnsafePointer<Float>, alpha: Float, accumulatingInto y: UnsafeMutablePointer<Float>, count: Int)
    /// `x *= alpha` in place.
    func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count: Int)
    /// Σ x², accumulated in Double.
    func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double
    /// `y = x` over `count` elements (no overlap).
    func copy(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int)
    /// Adds `bias: [columns]` to every row of `x: [rows, columns]` (rows `ld` apart) in place.
    func addBias(_ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>, rows: Int, columns: Int)
    /// `dBias += Σ_rows dy` for `dy: [rows, columns]` (rows `ld` apart).
    func biasBackward(_ dy: UnsafePointer<Float>, ld: Int, rows: Int, columns: Int, accumulatingInto dBias: UnsafeMutablePointer<Float>)
    /// LayerNorm over the last dimension of `x: [rows, columns]`; saves `mean` and `rstd` (`[rows]` each).
    func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                   mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, rows: Int, columns: Int, epsilon: Float)
    /// LayerNorm's backward: writes `dx`, accumulates `dWeight` and `dBias`.
    func layerNormBackward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                           rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                           dBias: UnsafeMutablePointer<Float>, rows: Int, columns: Int)
    /// RMSNorm over the last dimension; saves `rstd: [rows]`.
    func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                 rows: Int, columns: Int, epsilon: Float)
    /// RMSNorm's backward: writes `dx`, accumulates `dWeight`.
    func rmsNormBackward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, rows: Int, columns: Int)
    /// GELU (tanh approximation) element-wise.
    func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int)
    /// `dx = gelu'(x) · dy`.
    func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int)
    /// `y = silu(gate) · up` row by row, where each row of `gateUp: [rows, 2 · features]` is the gate then the
    /// up projection side by side; `y: [rows, features]`.
    func swiglu(_ gateUp: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, features: Int)
    /// SwiGLU's backward: writes `dGateUp: [rows, 2 · features]` (gate then up gradients) from `dy: [rows, features]`.
    func swigluBackward(_ gateUp: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dGateUp: UnsafeMutablePointer<Float>,
                        rows: Int, features: Int)
    /// Rotates `heads` consecutive heads of each of `tokens` rows (`rowStride` apart) by the rows' positions
    /// (inverse: by the negative angle, the backward pass).
    func rotate(_ rows: UnsafeMutablePointer<Float>, rowStride: Int, heads: Int, positions: UnsafePointer<Int32>, tokens: Int,
                inverse: Bool, with rotary: RotaryEmbedding)
    /// Rotates the `queryHeads` heads at the start of each of `tokens` rows and the `keyHeads` heads after them (a
    /// fused query-key-value row) by the rows' positions, then calls `storeKeys` with rows whose keys are rotated: it
    /// reads those rows' rotated keys (and the values beside them) and touches no memory the query heads occupy. The
    /// same bits as ``rotate(_:rowStride:heads:positions:tokens:inverse:with:)`` over all the heads followed by
    /// `storeKeys(0..<tokens)`; a decoding step's few rows may be shared among threads, each storing its own rows, so
    /// `storeKeys` may run on several threads at once with disjoint ranges that together cover `0..<tokens`. It must
    /// not call the backend.
    func rotate(_ rows: UnsafeMutablePointer<Float>, rowStride: Int, queryHeads: Int, keyHeads: Int, positions: UnsafePointer<Int32>,
                tokens: Int, with rotary: RotaryEmbedding, thenStoringKeys storeKeys: (Range<Int>) -> Void)
    /// Causal attention with grouped key/value heads; writes each query row's log-sum-exp for the backward pass.
    func attention(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
                   into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>, shape: AttentionShape)
    /// Decoding attention of each sequence's few query rows over its keys and values where they lie in a paged pool
    /// (``Kernels/pagedAttention(q:qStride:keyValues:sequences:into:outStride:logSumExp:shape:pool:path:)``).
    func pagedAttention(q: UnsafePointer<Float>, qStride: Int, keyValues: PagedKeyValues, sequences: [PagedSequence],
                        into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>, shape: AttentionShape)
    /// Attention's backward from the saved output and log-sum-exp: writes `dq`, `dk`, `dv`, or adds to them when
    /// `accumulating` (``Kernels/attentionBackward(dOut:q:qStride:k:v:kvStride:out:outStride:logSumExp:dq:dk:dv:shape:accumulating:pool:)``).
    func attentionBackward(dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                           kvStride: Int, out: UnsafePointer<Float>, outStride: Int, logSumExp: UnsafePointer<Float>,
                           dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>, shape: AttentionShape,
                           accumulating: Bool)
    /// Folds a partial attention result into a running one by the log-sum-exp rule (context parallelism merges
    /// the blocks of keys it sees one at a time): `out` and `logSumExp` are updated in place; a running
    /// log-sum-exp of −∞ takes the partial result as it is. Layouts as ``Kernels/mergeAttention(_:partialStride:partialLogSumExp:into:outStride:logSumExp:rows:heads:headDim:pool:)``.
    func mergeAttention(_ partial: UnsafePointer<Float>, partialStride: Int, partialLogSumExp: UnsafePointer<Float>,
                        into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>,
                        rows: Int, heads: Int, headDim: Int)
    /// Rows of `table` for `ids` inside `vocabularyStart ..< vocabularyStart + vocabularyCount`, zeros for the others.
    func embedding(ids: UnsafePointer<Int32>, table: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, tokens: Int, columns: Int,
                   vocabularyStart: Int, vocabularyCount: Int)
    /// Accumulates each token's gradient row into its table row (ids outside the range are skipped).
    func embeddingBackward(ids: UnsafePointer<Int32>, _ dOut: UnsafePointer<Float>, accumulatingInto dTable: UnsafeMutablePointer<Float>,
                           tokens: Int, columns: Int, vocabularyStart: Int, vocabularyCount: Int)
    /// Each row's maximum of `x: [rows, columns]` with leading dimension `ld`.
    func rowMaxima(_ x: UnsafePointer<Float>, ld: Int, rows: Int, columns: Int, into maxima: UnsafeMutablePointer<Float>)
    /// Each row's Σ exp(x − shift); with `storingExponentials` the exponentials replace `x`.
    func shiftedExponentialSums(_ x: UnsafeMutablePointer<Float>, ld: Int, rows: Int, columns: Int, shifts: UnsafePointer<Float>,
                                into sums: UnsafeMutablePointer<Float>, storingExponentials: Bool)
    /// Multiplies each row of `x` by its factor in place.
    func scaleRows(_ x: UnsafeMutablePointer<Float>, ld: Int, rows: Int, columns: Int, by factors: UnsafePointer<Float>)
    /// Mixture-of-experts products: for each group `g`, `c_g = op(a_g) · op(weights[g]) + beta · c_g` over the
    /// `rows[g]` consecutive rows of `a` (`[Σ rows, k]`) and `c` (`[Σ rows, n]`) after the earlier groups' rows;
    /// `weights[g]` is `[k, n]` or, when `transposeB`, `[n, k]` (leading dimension `ldb`). Empty groups do nothing.
    /// A CUDA backend would make this one grouped GEMM launch (cuBLAS grouped batched GEMM or CUTLASS's grouped kernel).
    func groupedMatmul(_ a: UnsafePointer<Float>, lda: Int, rows: [Int], _ weights: [UnsafePointer<Float>], transposeB: Bool,
                       ldb: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, n: Int, k: Int, beta: Float)
    /// `y[i] = scales[i] · x[indices[i]]` row by row (`scales` `nil`: a copy); rows `columns` wide and dense.
    func gatherRows(_ x: UnsafePointer<Float>, indices: UnsafePointer<Int32>, scales: UnsafePointer<Float>?,
                    into y: UnsafeMutablePointer<Float>, rows: Int, columns: Int)
    /// `y[t] = Σ_k weights[t, k] · x[sources[t, k]]` over each token's `topK` slots, negative sources skipped
    /// (`weights` `nil`: 1); overwrites `y: [tokens, columns]`, zeros for a token without sources.
    func combineRows(_ x: UnsafePointer<Float>, sources: UnsafePointer<Int32>, weights: UnsafePointer<Float>?,
                     into y: UnsafeMutablePointer<Float>, tokens: Int, topK: Int, columns: Int)
    /// `dWeights[t, k] = dy[t] · x[sources[t, k]]` (0 for a negative source): the gradient of ``combineRows(_:sources:weights:into:tokens:topK:columns:)``
    /// with respect to its weights; overwrites `dWeights: [tokens, topK]`.
    func combineWeightGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, sources: UnsafePointer<Int32>,
                               into dWeights: UnsafeMutablePointer<Float>, tokens: Int, topK: Int, columns: Int)
    /// One AdamW update of `count` parameters in place (values and both moments).
    func adamW(values: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, firstMoments: UnsafeMutablePointer<Float>,
               secondMoments: UnsafeMutablePointer<Float>, count: Int, step: AdamWStep)
}

extension ComputeBackend {
    /// `c = op(a) · op(b)` with dense leading dimensions unless given.
    @inlinable
    public func matmul(_ a: UnsafePointer<Float>, transposeA: Bool = false, lda: Int? = nil, _ b: UnsafePointer<Float>,
                       transposeB: Bool = false, ldb: Int? = nil, into c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
                       m: Int, n: Int, k: Int, beta: Float = 0) {
        matmul(a, transposeA: transposeA, lda: lda, b, transposeB: transposeB, ldb: ldb, into: c, ldc: ldc, m: m, n: n, k: k,
               alpha: 1, beta: beta)
    }

    /// Adds `bias` to every row of a dense `x: [rows, columns]`.
    @inlinable
    public func addBias(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, columns: Int) {
        addBias(x, ld: columns, bias: bias, rows: rows, columns: columns)
    }

    /// `y += x`.
    @inlinable
    public func axpy(_ x: UnsafePointer<Float>, accumulatingInto y: UnsafeMutablePointer<Float>, count: Int) {
        axpy(x, alpha: 1, accumulatingInto: y, count: count)
    }
    /// Attention's backward, overwriting `dq`, `dk` and `dv`.
    @inlinable
    public func attentionBackward(dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>,
                                  v: UnsafePointer<Float>, kvStride: Int, out: UnsafePointer<Float>, outStride: Int,
                                  logSumExp: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                  dv: UnsafeMutablePointer<Float>, shape: AttentionShape) {
        attentionBackward(dOut: dOut, q: q, qStride: qStride, k: k, v: v, kvStride: kvStride, out: out, outStride: outStride,
                          logSumExp: logSumExp, dq: dq, dk: dk, dv: dv, shape: shape, accumulating: false)
    }
}

/// The CPU backend: OpenBLAS for matrix products (its threads set per rank with ``BLASLibrary``) and
/// ``Kernels`` on a ``ComputePool`` of the rank's share of the cores for everything else. Every kernel gives the
/// same bits for any pool size, so the pool changes the speed, never the numbers.
public struct CPUBackend: ComputeBackend {
    /// The threads this rank's element-wise, normalization, attention, loss and optimizer kernels run on.
    public let pool: ComputePool
    /// Products with a stored weight over at least this many rows (a prompt) dequantize the weight a cache-sized tile
    /// at a time into `cblas_sgemm` (``QuantizedMatrix/multiplyDequantizingTiles(_:ldx:rowCount:into:ldy:)``);
    /// fewer rows (decoding) use the 8-bit block dot products, whose outputs do not depend on the other rows. A
    /// server that needs every step batch-invariant whatever its row count sets `Int.max`.
    public var tiledProductRows = 16

    public init(pool: ComputePool = .serial) { self.pool = pool }

    /// One thread.
    public static let serial = CPUBackend()

    public func matmul(_ a: UnsafePointer<Float>, transposeA: Bool, lda: Int?, _ b: UnsafePointer<Float>, transposeB: Bool, ldb: Int?,
                       into c: UnsafeMutablePointer<Float>, ldc: Int?, m: Int, n: Int, k: Int, alpha: Float, beta: Float) {
        Kernels.matmul(a, transposeA: transposeA, lda: lda, b, transposeB: transposeB, ldb: ldb, into: c, ldc: ldc,
                       m: m, n: n, k: k, alpha: alpha, beta: beta)
    }

    public func rowStableMatmul(_ x: UnsafePointer<Float>, ldx: Int, _ w: UnsafePointer<Float>, transposedWeight: Bool, ldw: Int,
                                into y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, n: Int, k: Int) {
        Kernels.rowStableMatmul(x, ldx: ldx, w, transposedWeight: transposedWeight, ldw: ldw, into: y, ldy: ldy, rows: rows, n: n, k: k,
                                pool: pool)
    }

    public func matmul(_ x: UnsafePointer<Float>, ldx: Int, stored weights: [QuantizedMatrix], into y: UnsafeMutablePointer<Float>,
                       ldy: Int, rows: Int, rowStable: Bool) {
        guard rows >= tiledProductRows && !rowStable else {
            return QuantizedMatrix.multiply(weights, x, ldx: ldx, rowCount: rows, into: y, ldy: ldy, pool: pool)
        }
        var first = 0
        for weight in weights {
            weight.multiplyDequantizingTiles(x, ldx: ldx, rowCount: rows, into: y + first, ldy: ldy)
            first += weight.rows
        }
    }

    public func embedding(ids: UnsafePointer<Int32>, stored table: QuantizedMatrix, into out: UnsafeMutablePointer<Float>, tokens: Int,
                          vocabularyStart: Int) {
        let columns = table.columns
        forEachRowRange(rows: tokens, elementsPerRow: columns) { range in
            for t in range {
                let row = Int(ids[t]) - vocabularyStart
                if row >= 0 && row < table.rows {
                    table.decodeRow(row, into: out + t * columns)
                } else {
                    (out + t * columns).update(repeating: 0, count: columns)
                }
            }
        }
    }

    public func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        Kernels.add(a, b, into: y, count: count, pool: pool)
    }

    public func axpy(_ x: UnsafePointer<Float>, alpha: Float, accumulatingInto y: UnsafeMutablePointer<Float>, count: Int) {
        Kernels.axpy(x, alpha: alpha, accumulatingInto: y, count: count, pool: pool)
    }

    public func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count: Int) {
        Kernels.scale(x, by: alpha, count: count, pool: pool)
    }

    public func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double { Kernels.sumOfSquares(x, count: count) }

    public func copy(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) { y.update(from: x, count: count) }

    public func addBias(_ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>, rows: Int, columns: Int) {
        guard ld != columns else { return Kernels.addBias(x, bias: bias, rows: rows, columns: columns, pool: pool) }
        forEachRowRange(rows: rows, elementsPerRow: columns) { range in
            for r in range { Kernels.add(x + r * ld, bias, into: x + r * ld, count: columns) }
        }
    }

    public func biasBackward(_ dy: UnsafePointer<Float>, ld: Int, rows: Int, columns: Int, accumulatingInto dBias: UnsafeMutablePointer<Float>) {
        guard ld != columns else { return Kernels.biasBackward(dy, rows: rows, columns: columns, accumulatingInto: dBias, pool: pool) }
        for r in 0..<rows { Kernels.axpy(dy + r * ld, accumulatingInto: dBias, count: columns) }
    }

    public func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                          mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, rows: Int, columns: Int, epsilon: Float) {
        Kernels.layerNorm(x, weight: weight, bias: bias, into: y, mean: mean, rstd: rstd, rows: rows, columns: columns,
                          epsilon: epsilon, pool: pool)
    }

    public func layerNormBackward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                                  rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                                  dBias: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        Kernels.layerNormBackward(dy, x: x, weight: weight, mean: mean, rstd: rstd, dx: dx, dWeight: dWeight, dBias: dBias,
                                  rows: rows, columns: columns, pool: pool)
    }

    public func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                        rstd: UnsafeMutablePointer<Float>, rows: Int, columns: Int, epsilon: Float) {
        Kernels.rmsNorm(x, weight: weight, into: y, rstd: rstd, rows: rows, columns: columns, epsilon: epsilon, pool: pool)
    }

    public func rmsNormBackward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        Kernels.rmsNormBackward(dy, x: x, weight: weight, rstd: rstd, dx: dx, dWeight: dWeight, rows: rows, columns: columns, pool: pool)
    }

    public func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        Kernels.gelu(x, into: y, count: count, pool: pool)
    }

    public func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int) {
        Kernels.geluBackward(x, dy, into: dx, count: count, pool: pool)
    }

    public func swiglu(_ gateUp: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, features: Int) {
        forEachRowRange(rows: rows, elementsPerRow: features) { range in
            for t in range {
                let row = gateUp + t * 2 * features
                Kernels.swiglu(gate: row, up: row + features, into: y + t * features, count: features)
            }
        }
    }

    public func swigluBackward(_ gateUp: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dGateUp: UnsafeMutablePointer<Float>,
                               rows: Int, features: Int) {
        forEachRowRange(rows: rows, elementsPerRow: features) { range in
            for t in range {
                let row = gateUp + t * 2 * features, dRow = dGateUp + t * 2 * features
                Kernels.swigluBackward(gate: row, up: row + features, dy + t * features, dGate: dRow, dUp: dRow + features, count: features)
            }
        }
    }

    public func rotate(_ rows: UnsafeMutablePointer<Float>, rowStride: Int, heads: Int, positions: UnsafePointer<Int32>, tokens: Int,
                       inverse: Bool, with rotary: RotaryEmbedding) {
        forEachRowRange(rows: tokens, elementsPerRow: heads * rotary.headDim) { range in
            rotary.apply(rows + range.lowerBound * rowStride, rowStride: rowStride, heads: heads, positions: positions + range.lowerBound,
                         tokens: range.count, inverse: inverse)
        }
    }

    /// Splits `rows` over the pool, each part at least the pool's minimum work.
    private func forEachRowRange(rows: Int, elementsPerRow: Int, _ body: (Range<Int>) -> Void) {
        pool.forEachRange(count: rows, alignment: 1, minimumPerPart: max(1, pool.minimumElementsPerThread / max(1, elementsPerRow)), body)
    }

    public func attention(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
                          into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>, shape: AttentionShape) {
        Kernels.attention(q: q, qStride: qStride, k: k, v: v, kvStride: kvStride, into: out, outStride: outStride,
                          logSumExp: logSumExp, shape: shape, pool: pool)
    }

    public func pagedAttention(q: UnsafePointer<Float>, qStride: Int, keyValues: PagedKeyValues, sequences: [PagedSequence],
                               into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>,
                               shape: AttentionShape) {
        Kernels.pagedAttention(q: q, qStride: qStride, keyValues: keyValues, sequences: sequences, into: out, outStride: outStride,
                               logSumExp: logSumExp, shape: shape, pool: pool)
    }

    public func attentionBackward(dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>,
                                  v: UnsafePointer<Float>, kvStride: Int, out: UnsafePointer<Float>, outStride: Int,
                                  logSumExp: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                  dv: UnsafeMutablePointer<Float>, shape: AttentionShape, accumulating: Bool) {
        Kernels.attentionBackward(dOut: dOut, q: q, qStride: qStride, k: k, v: v, kvStride: kvStride, out: out, outStride: outStride,
                                  logSumExp: logSumExp, dq: dq, dk: dk, dv: dv, shape: shape, accumulating: accumulating, pool: pool)
    }

    public func mergeAttention(_ partial: UnsafePointer<Float>, partialStride: Int, partialLogSumExp: UnsafePointer<Float>,
                               into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>,
                               rows: Int, heads: Int, headDim: Int) {
        Kernels.mergeAttention(partial, partialStride: partialStride, partialLogSumExp: partialLogSumExp, into: out, outStride: outStride,
                               logSumExp: logSumExp, rows: rows, heads: heads, headDim: headDim, pool: pool)
    }

    public func embedding(ids: UnsafePointer<Int32>, table: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, tokens: Int,
                          columns: Int, vocabularyStart: Int, vocabularyCount: Int) {
        Kernels.embedding(ids: ids, table: table, into: out, tokens: tokens, columns: columns, vocabularyStart: vocabularyStart,
                          vocabularyCount: vocabularyCount, pool: pool)
    }

    public func embeddingBackward(ids: UnsafePointer<Int32>, _ dOut: UnsafePointer<Float>, accumulatingInto dTable: UnsafeMutablePointer<Float>,
                                  tokens: Int, columns: Int, vocabularyStart: Int, vocabularyCount: Int) {
        Kernels.embeddingBackward(ids: ids, dOut, accumulatingInto: dTable, tokens: tokens, columns: columns,
                                  vocabularyStart: vocabularyStart, vocabularyCount: vocabularyCount, pool: pool)
    }

    public func rowMaxima(_ x: UnsafePointer<Float>, ld: Int, rows: Int, columns: Int, into maxima: UnsafeMutablePointer<Float>) {
        Kernels.rowMaxima(x, ld: ld, rows: rows, columns: columns, into: maxima, pool: pool)
    }

    public func shiftedExponentialSums(_ x: UnsafeMutablePointer<Float>, ld: Int, rows: Int, columns: Int, shifts: UnsafePointer<Float>,
                                       into sums: UnsafeMutablePointer<Float>, storingExponentials: Bool) {
        Kernels.shiftedExponentialSums(x, ld: ld, rows: rows, columns: columns, shifts: shifts, into: sums,
                                       storingExponentials: storingExponentials, pool: pool)
    }

    public func scaleRows(_ x: UnsafeMutablePointer<Float>, ld: Int, rows: Int, columns: Int, by factors: UnsafePointer<Float>) {
        Kernels.scaleRows(x, ld: ld, rows: rows, columns: columns, by: factors, pool: pool)
    }

    public func adamW(values: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, firstMoments: UnsafeMutablePointer<Float>,
                      secondMoments: UnsafeMutablePointer<Float>, count: Int, step: AdamWStep) {
        Kernels.adamW(values: values, gradients: gradients, firstMoments: firstMoments, secondMoments: secondMoments,
                      count: count, step: step, pool: pool)
    }
}
