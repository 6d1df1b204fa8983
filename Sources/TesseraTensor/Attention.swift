#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The geometry of one attention call.
///
/// Queries are the last `queryLength` positions of a sequence of `keyLength` keys, so query `i` sits
/// at absolute position `keyLength − queryLength + i` (training: equal lengths; decoding with a KV cache:
/// `queryLength = 1`). With grouped-query attention, query head `h` reads key/value head
/// `h / (heads / kvHeads)`.
public struct AttentionShape: Sendable, Equatable {
    public var batch: Int
    public var queryLength: Int
    public var keyLength: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var isCausal: Bool
    public var scale: Float

    /// Stores the geometry as given; ``validate()`` checks it (the `Tensor`-level attention does).
    public init(batch: Int, queryLength: Int, keyLength: Int? = nil, heads: Int, kvHeads: Int, headDim: Int,
                isCausal: Bool = true, scale: Float? = nil) {
        self.batch = batch
        self.queryLength = queryLength
        self.keyLength = keyLength ?? queryLength
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.isCausal = isCausal
        self.scale = scale ?? 1 / Float(headDim).squareRoot()
    }

    /// Number of keys query `i` may attend to.
    @inline(__always)
    public func visibleKeys(forQuery i: Int) -> Int { isCausal ? keyLength - queryLength + i + 1 : keyLength }
}

extension Kernels {
    /// Scaled dot-product attention with a causal mask and grouped-query heads.
    ///
    /// Layouts (row = one token of one sequence, `batch × length` rows):
    /// - `q`: row `b·queryLength + i` at `q + row·qStride`, `heads × headDim` values;
    /// - `k`, `v`: row `b·keyLength + j` at `+ row·kvStride`, `kvHeads × headDim` values;
    /// - `out`: like `q` with `outStride`;
    /// - `logSumExp`: `[batch, heads, queryLength]`, written for the backward pass.
    public static func attention(
        q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
        into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>,
        shape: AttentionShape
    ) {
        let d = shape.headDim, group = shape.heads / shape.kvHeads
        var scores = [Float](repeating: 0, count: shape.keyLength)
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let kvh = h / group
                for i in 0..<shape.queryLength {
                    let qi = q + (b * shape.queryLength + i) * qStride + h * d
                    let visible = shape.visibleKeys(forQuery: i)
                    var m = -Float.infinity
                    for j in 0..<visible {
                        let kj = k + (b * shape.keyLength + j) * kvStride + kvh * d
                        var dot: Float = 0
                        for x in 0..<d { dot += qi[x] * kj[x] }
                        scores[j] = dot * shape.scale
                        m = max(m, scores[j])
                    }
                    var sum: Float = 0
                    for j in 0..<visible {
                        scores[j] = expf(scores[j] - m)
                        sum += scores[j]
                    }
                    let oi = out + (b * shape.queryLength + i) * outStride + h * d
                    for x in 0..<d { oi[x] = 0 }
                    for j in 0..<visible {
                        let p = scores[j] / sum
                        let vj = v + (b * shape.keyLength + j) * kvStride + kvh * d
                        for x in 0..<d { oi[x] += p * vj[x] }
                    }
                    logSumExp[(b * shape.heads + h) * shape.queryLength + i] = m + logf(sum)
                }
            }
        }
    }

    /// Backward of ``attention(q:qStride:k:v:kvStride:into:outStride:logSumExp:shape:)``.
    /// Writes (overwrites) `dq` (layout of `q`), `dk` and `dv` (layout of `k`); `dOut` has the layout of `out`.
    public static func attentionBackward(
        dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, qStride: Int,
        k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
        out: UnsafePointer<Float>, outStride: Int, logSumExp: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        shape: AttentionShape
    ) {
        let d = shape.headDim, group = shape.heads / shape.kvHeads
        for row in 0..<shape.batch * shape.queryLength {
            (dq + row * qStride).update(repeating: 0, count: shape.heads * d)
        }
        for row in 0..<shape.batch * shape.keyLength {
            (dk + row * kvStride).update(repeating: 0, count: shape.kvHeads * d)
            (dv + row * kvStride).update(repeating: 0, count: shape.kvHeads * d)
        }
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let kvh = h / group
                for i in 0..<shape.queryLength {
                    let rowQ = b * shape.queryLength + i
                    let qi = q + rowQ * qStride + h * d
                    let oi = out + rowQ * outStride + h * d
                    let doi = dOut + rowQ * outStride + h * d
                    let dqi = dq + rowQ * qStride + h * d
                    let lse = logSumExp[(b * shape.heads + h) * shape.queryLength + i]
                    var delta: Float = 0
                    for x in 0..<d { delta += doi[x] * oi[x] }
                    for j in 0..<shape.visibleKeys(forQuery: i) {
                        let rowK = b * shape.keyLength + j
                        let kj = k + rowK * kvStride + kvh * d
                        let vj = v + rowK * kvStride + kvh * d
                        var dot: Float = 0, dp: Float = 0
                        for x in 0..<d {
                            dot += qi[x] * kj[x]
                            dp += doi[x] * vj[x]
                        }
                        let p = expf(dot * shape.scale - lse)
                        let ds = p * (dp - delta) * shape.scale
                        let dkj = dk + rowK * kvStride + kvh * d
                        let dvj = dv + rowK * kvStride + kvh * d
                        for x in 0..<d {
                            dqi[x] += ds * kj[x]
                            dkj[x] += ds * qi[x]
                            dvj[x] += p * doi[x]
                        }
                    }
                }
            }
        }
    }
}
