import Testing
import TesseraTensor

@Suite struct AttentionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var batch, queryLength, keyLength, heads, kvHeads, headDim: Int
        var isCausal = true
        /// A slice of a model's heads (an uneven tensor-parallel rank): its group size and first query's place.
        var groupSize: Int? = nil, groupOffset = 0
        var testDescription: String {
            "b\(batch) q\(queryLength) k\(keyLength) h\(heads)/\(kvHeads) d\(headDim)\(isCausal ? " causal" : "")"
                + (groupSize.map { " groups of \($0) from \(groupOffset)" } ?? "")
        }
        var shape: AttentionShape {
            AttentionShape(batch: batch, queryLength: queryLength, keyLength: keyLength, heads: heads, kvHeads: kvHeads,
                           headDim: headDim, isCausal: isCausal, groupSize: groupSize, groupOffset: groupOffset)
        }
        var reference: Reference.Attention {
            Reference.Attention(batch: batch, queryLength: queryLength, keyLength: keyLength, heads: heads,
                                kvHeads: kvHeads, headDim: headDim, isCausal: isCausal, groupSize: groupSize, groupOffset: groupOffset)
        }
    }

    /// GQA ratios 1, 2 and 4; fewer queries than keys (a KV cache); head dimensions 16 and 64; lengths
    /// that are not multiples of any tile, and lengths that span several tiles; head dimension 128 (smaller
    /// query tiles); slices of a model's heads that start and end inside a group (uneven tensor parallelism:
    /// SmolLM2's rank 0 of 2, queries 0–4 over key/value heads 0–1, and rank 1, queries 5–8 over heads 1–2).
    static let cases: [Case] = [
        Case(batch: 2, queryLength: 33, keyLength: 33, heads: 5, kvHeads: 2, headDim: 16, groupSize: 3),
        Case(batch: 1, queryLength: 20, keyLength: 40, heads: 4, kvHeads: 2, headDim: 16, groupSize: 3, groupOffset: 2),
        Case(batch: 2, queryLength: 17, keyLength: 17, heads: 1, kvHeads: 1, headDim: 16, groupSize: 3, groupOffset: 1),
        Case(batch: 1, queryLength: 70, keyLength: 70, heads: 3, kvHeads: 3, headDim: 16),
        Case(batch: 2, queryLength: 33, keyLength: 33, heads: 4, kvHeads: 2, headDim: 16),
        Case(batch: 1, queryLength: 45, keyLength: 100, heads: 8, kvHeads: 2, headDim: 64),
        Case(batch: 1, queryLength: 1, keyLength: 77, heads: 4, kvHeads: 1, headDim: 64),
        Case(batch: 2, queryLength: 50, keyLength: 50, heads: 2, kvHeads: 1, headDim: 16, isCausal: false),
        Case(batch: 1, queryLength: 150, keyLength: 200, heads: 4, kvHeads: 1, headDim: 64),
        Case(batch: 1, queryLength: 270, keyLength: 270, heads: 2, kvHeads: 2, headDim: 16),
        Case(batch: 1, queryLength: 70, keyLength: 90, heads: 2, kvHeads: 1, headDim: 128),
    ]

    static func inputs(_ c: Case) -> (q: Tensor, k: Tensor, v: Tensor, dOut: Tensor) {
        let shape = c.shape
        return (Fixtures.tensor(shape.queryShape, stream: "att.q", scale: 1.5), Fixtures.tensor(shape.keyShape, stream: "att.k", scale: 1.5),
                Fixtures.tensor(shape.keyShape, stream: "att.v"), Fixtures.tensor(shape.queryShape, stream: "att.dOut"))
    }

    @Test(arguments: cases, Fixtures.pools)
    func forwardAndBackwardMatchTheReference(c: Case, pool: ComputePool) throws {
        let (q, k, v, dOut) = Self.inputs(c)
        let expected = c.reference.forward(q: q.doubles, k: k.doubles, v: v.doubles)
        let (output, logSumExp) = try Tensor.attention(q: q, k: k, v: v, shape: c.shape, pool: pool)
        Comparison.expectClose(output.scalars, expected.output, "attention output \(c.testDescription)")
        Comparison.expectClose(logSumExp.scalars, expected.logSumExp, "attention logsumexp \(c.testDescription)")

        let gradients = try Tensor.attentionBackward(
            dOut: dOut, q: q, k: k, v: v, output: output, logSumExp: logSumExp, shape: c.shape, pool: pool)
        let reference = c.reference.backward(dOut: dOut.doubles, q: q.doubles, k: k.doubles, v: v.doubles)
        Comparison.expectClose(gradients.dq.scalars, reference.dq, "attention dq \(c.testDescription)")
        Comparison.expectClose(gradients.dk.scalars, reference.dk, "attention dk \(c.testDescription)")
        Comparison.expectClose(gradients.dv.scalars, reference.dv, "attention dv \(c.testDescription)")
    }

    /// The same bits on every pool and at every OpenBLAS thread count (head dimension 64 and 128, so
    /// both tile shapes run, and lengths that span several tiles).
    @Test(arguments: [64, 128])
    func bitsDoNotDependOnThePoolOrTheBLASThreads(headDim: Int) throws {
        let c = Case(batch: 2, queryLength: 150, keyLength: 150, heads: 4, kvHeads: 2, headDim: headDim)
        let (q, k, v, dOut) = Self.inputs(c)
        let previous = BLASThreads.current
        defer { BLASThreads.set(previous) }
        var results: [[Tensor]] = []
        for (pool, blasThreads) in [(Fixtures.pools[0], 1), (Fixtures.pools[1], 2)] {
            BLASThreads.set(blasThreads)
            let (output, logSumExp) = try Tensor.attention(q: q, k: k, v: v, shape: c.shape, pool: pool)
            let gradients = try Tensor.attentionBackward(
                dOut: dOut, q: q, k: k, v: v, output: output, logSumExp: logSumExp, shape: c.shape, pool: pool)
            results.append([output, logSumExp, gradients.dq, gradients.dk, gradients.dv])
        }
        #expect(results[0] == results[1])
    }

    /// The float64 backward reference and the kernel against central differences of the float64 forward.
    @Test func backwardMatchesFiniteDifferences() throws {
        let c = Case(batch: 1, queryLength: 5, keyLength: 9, heads: 4, kvHeads: 2, headDim: 8)
        let (q, k, v, dOut) = Self.inputs(c)
        let loss = { (q: [Double], k: [Double], v: [Double]) in
            Comparison.weightedSum(c.reference.forward(q: q, k: k, v: v).output, dOut.doubles)
        }
        let numerical = (
            dq: Comparison.numericalGradient(at: q.doubles) { loss($0, k.doubles, v.doubles) },
            dk: Comparison.numericalGradient(at: k.doubles) { loss(q.doubles, $0, v.doubles) },
            dv: Comparison.numericalGradient(at: v.doubles) { loss(q.doubles, k.doubles, $0) })
        let reference = c.reference.backward(dOut: dOut.doubles, q: q.doubles, k: k.doubles, v: v.doubles)
        Comparison.expectClose(reference.dq.map(Float.init), numerical.dq, "reference dq")
        Comparison.expectClose(reference.dk.map(Float.init), numerical.dk, "reference dk")
        let (output, logSumExp) = try Tensor.attention(q: q, k: k, v: v, shape: c.shape)
        let kernel = try Tensor.attentionBackward(dOut: dOut, q: q, k: k, v: v, output: output, logSumExp: logSumExp, shape: c.shape)
        Comparison.expectClose(kernel.dq.scalars, numerical.dq, "dq")
        Comparison.expectClose(kernel.dk.scalars, numerical.dk, "dk")
        Comparison.expectClose(kernel.dv.scalars, numerical.dv, "dv")
    }

    /// Strided layouts: q, k and v read in place from one fused QKV projection `[tokens, (h + 2·kvh)·d]`,
    /// the output written into every other row slot of a wider buffer whose other columns stay untouched.
    @Test func stridedLayoutsReadAndWriteInPlace() throws {
        let c = Case(batch: 2, queryLength: 40, keyLength: 40, heads: 4, kvHeads: 2, headDim: 16)
        let (q, k, v, dOut) = Self.inputs(c)
        let d = c.headDim, qWidth = c.heads * d, kvWidth = c.kvHeads * d, tokens = c.batch * c.queryLength
        let qkvStride = qWidth + 2 * kvWidth
        var qkv = [Float](repeating: 0, count: tokens * qkvStride)
        for t in 0..<tokens {
            for x in 0..<qWidth { qkv[t * qkvStride + x] = q.scalars[t * qWidth + x] }
            for x in 0..<kvWidth {
                qkv[t * qkvStride + qWidth + x] = k.scalars[t * kvWidth + x]
                qkv[t * qkvStride + qWidth + kvWidth + x] = v.scalars[t * kvWidth + x]
            }
        }
        let outStride = qWidth + 5
        var out = [Float](repeating: 7, count: tokens * outStride)
        var lse = [Float](repeating: 0, count: c.batch * c.heads * c.queryLength)
        var dOutStrided = [Float](repeating: 0, count: tokens * outStride)
        for t in 0..<tokens { for x in 0..<qWidth { dOutStrided[t * outStride + x] = dOut.scalars[t * qWidth + x] } }
        var dqkv = [Float](repeating: 3, count: tokens * qkvStride)
        qkv.withUnsafeBufferPointer { p in
            let base = p.baseAddress!
            out.withUnsafeMutableBufferPointer { o in
                lse.withUnsafeMutableBufferPointer { l in
                    Kernels.attention(q: base, qStride: qkvStride, k: base + qWidth, v: base + qWidth + kvWidth, kvStride: qkvStride,
                                      into: o.baseAddress!, outStride: outStride, logSumExp: l.baseAddress!, shape: c.shape)
                }
            }
            dqkv.withUnsafeMutableBufferPointer { g in
                let grad = g.baseAddress!
                Kernels.attentionBackward(
                    dOut: dOutStrided, q: base, qStride: qkvStride, k: base + qWidth, v: base + qWidth + kvWidth,
                    kvStride: qkvStride, out: out, outStride: outStride, logSumExp: lse, dq: grad, dk: grad + qWidth,
                    dv: grad + qWidth + kvWidth, shape: c.shape)
            }
        }
        let expected = c.reference.forward(q: q.doubles, k: k.doubles, v: v.doubles)
        let gathered = (0..<tokens).flatMap { out[($0 * outStride)..<($0 * outStride + qWidth)] }
        Comparison.expectClose(gathered, expected.output, "strided output")
        #expect((0..<tokens).allSatisfy { t in out[(t * outStride + qWidth)..<((t + 1) * outStride)].allSatisfy { $0 == 7 } })
        let reference = c.reference.backward(dOut: dOut.doubles, q: q.doubles, k: k.doubles, v: v.doubles)
        func columns(_ start: Int, _ width: Int) -> [Float] {
            (0..<tokens).flatMap { dqkv[($0 * qkvStride + start)..<($0 * qkvStride + start + width)] }
        }
        Comparison.expectClose(columns(0, qWidth), reference.dq, "strided dq")
        Comparison.expectClose(columns(qWidth, kvWidth), reference.dk, "strided dk")
        Comparison.expectClose(columns(qWidth + kvWidth, kvWidth), reference.dv, "strided dv")
    }
}
