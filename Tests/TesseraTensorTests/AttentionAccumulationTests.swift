import Testing
import TesseraTensor

/// The attention backward kernel's accumulating mode, as context-parallel attention uses it: calls on consecutive
/// key ranges add their gradients to what `dq`, `dk` and `dv` already hold, and together equal one call on all the
/// keys (the float64 reference, and central differences of the float64 forward).
@Suite struct AttentionAccumulationTests {
    typealias Case = AttentionTests.Case

    /// Gradients after adding the calls on the key ranges that `cuts` splits the keys into (`[0, keyLength]`:
    /// one call) to `initial` (dq, then dk and dv); the forward output and log-sum-exp come from the whole keys.
    static func accumulated(_ c: Case, cuts: [Int], initial: (dq: [Float], dk: [Float], dv: [Float]),
                            accumulating: Bool = true, pool: ComputePool = .serial) throws -> (dq: [Float], dk: [Float], dv: [Float]) {
        let (q, k, v, dOut) = AttentionTests.inputs(c)
        let (output, logSumExp) = try Tensor.attention(q: q, k: k, v: v, shape: c.shape, pool: pool)
        var (dq, dk, dv) = initial
        let rowQ = c.heads * c.headDim, rowK = c.kvHeads * c.headDim
        let (ks, vs) = (k.scalars, v.scalars)
        for (start, end) in zip(cuts, cuts.dropFirst()) {
            var shape = c.shape
            shape.keyLength = end - start
            dk.withUnsafeMutableBufferPointer { dkp in
                dv.withUnsafeMutableBufferPointer { dvp in
                    Kernels.attentionBackward(
                        dOut: dOut.scalars, q: q.scalars, qStride: rowQ, k: Array(ks[(start * rowK)...]), v: Array(vs[(start * rowK)...]),
                        kvStride: rowK, out: output.scalars, outStride: rowQ, logSumExp: logSumExp.scalars, dq: &dq,
                        dk: dkp.baseAddress! + start * rowK, dv: dvp.baseAddress! + start * rowK, shape: shape,
                        accumulating: accumulating, pool: pool)
                }
            }
        }
        return (dq, dk, dv)
    }

    static func initial(_ c: Case) -> (dq: [Float], dk: [Float], dv: [Float]) {
        (Fixtures.values(c.shape.queryShape.reduce(1, *), stream: "acc.dq"), Fixtures.values(c.shape.keyShape.reduce(1, *), stream: "acc.dk"),
         Fixtures.values(c.shape.keyShape.reduce(1, *), stream: "acc.dv"))
    }

    /// Non-causal blocks (context parallelism's off-diagonal ones) cut at a kernel tile and inside one, and a
    /// causal block in one call (the diagonal), on every pool: `initial` plus the float64 gradients.
    static let splits: [(Case, [Int])] = [
        (Case(batch: 1, queryLength: 40, keyLength: 150, heads: 4, kvHeads: 2, headDim: 16, isCausal: false), [0, 64, 100, 150]),
        (Case(batch: 1, queryLength: 33, keyLength: 33, heads: 2, kvHeads: 1, headDim: 16, isCausal: false), [0, 1, 33]),
        (Case(batch: 1, queryLength: 70, keyLength: 70, heads: 4, kvHeads: 2, headDim: 16), [0, 70]),
    ]

    @Test(arguments: [0, 1, 2], Fixtures.pools)
    func keyRangesAddToTheGradientsHeld(split: Int, pool: ComputePool) throws {
        let (c, cuts) = Self.splits[split]
        let (q, k, v, dOut) = AttentionTests.inputs(c)
        let reference = c.reference.backward(dOut: dOut.doubles, q: q.doubles, k: k.doubles, v: v.doubles)
        let start = Self.initial(c)
        let result = try Self.accumulated(c, cuts: cuts, initial: start, pool: pool)
        func plus(_ a: [Float], _ b: [Double]) -> [Double] { zip(a, b).map { Double($0) + $1 } }
        Comparison.expectClose(result.dq, plus(start.dq, reference.dq), "accumulated dq \(c.testDescription) cut at \(cuts)")
        Comparison.expectClose(result.dk, plus(start.dk, reference.dk), "accumulated dk \(c.testDescription) cut at \(cuts)")
        Comparison.expectClose(result.dv, plus(start.dv, reference.dv), "accumulated dv \(c.testDescription) cut at \(cuts)")
    }

    /// Key ranges accumulated from zero against central differences of the float64 forward.
    @Test func keyRangesMatchFiniteDifferences() throws {
        let c = Case(batch: 1, queryLength: 5, keyLength: 9, heads: 4, kvHeads: 2, headDim: 8, isCausal: false)
        let (q, k, v, dOut) = AttentionTests.inputs(c)
        let loss = { (q: [Double], k: [Double], v: [Double]) in
            Comparison.weightedSum(c.reference.forward(q: q, k: k, v: v).output, dOut.doubles)
        }
        let zeros = (dq: [Float](repeating: 0, count: q.scalars.count), dk: [Float](repeating: 0, count: k.scalars.count),
                     dv: [Float](repeating: 0, count: v.scalars.count))
        let result = try Self.accumulated(c, cuts: [0, 4, 9], initial: zeros)
        Comparison.expectClose(result.dq, Comparison.numericalGradient(at: q.doubles) { loss($0, k.doubles, v.doubles) }, "dq")
        Comparison.expectClose(result.dk, Comparison.numericalGradient(at: k.doubles) { loss(q.doubles, $0, v.doubles) }, "dk")
        Comparison.expectClose(result.dv, Comparison.numericalGradient(at: v.doubles) { loss(q.doubles, k.doubles, $0) }, "dv")
    }

    /// The same key ranges overwriting instead of accumulating (each range's query gradient replaces the one
    /// before, and the gradients held are lost) fail the check above.
    @Test func overwritingKeyRangesIsCaught() throws {
        let (c, cuts) = Self.splits[0]
        let (q, k, v, dOut) = AttentionTests.inputs(c)
        let reference = c.reference.backward(dOut: dOut.doubles, q: q.doubles, k: k.doubles, v: v.doubles)
        let start = Self.initial(c)
        let result = try Self.accumulated(c, cuts: cuts, initial: start, accumulating: false)
        #expect(!Comparison.isClose(result.dq, zip(start.dq, reference.dq).map { Double($0) + $1 }))
    }
}
