import Testing
import TesseraTensor

/// The log-sum-exp merge that context-parallel attention folds key blocks with: attention over the keys split into
/// blocks, merged, equals attention over all keys (a float64 reference), output and log-sum-exp.
@Suite struct AttentionMergeTests {
    static let queries = 37, heads = 4, kvHeads = 2, headDim = 16
    /// Key block lengths: uneven, one shorter than a tile, one spanning tiles.
    static let blocks = [29, 70, 5]

    /// Merges the blocks' partial results in order; `corrupt` changes each partial log-sum-exp first (the wrong variant).
    static func merged(pool: ComputePool, corrupt: (Float) -> Float = { $0 }) -> (output: [Float], logSumExp: [Float], expected: (output: [Double], logSumExp: [Double])) {
        let keys = blocks.reduce(0, +), width = heads * headDim, kvWidth = kvHeads * headDim
        let q = Fixtures.values(queries * width, stream: "merge.q", scale: 1.5)
        let k = Fixtures.values(keys * kvWidth, stream: "merge.k", scale: 1.5), v = Fixtures.values(keys * kvWidth, stream: "merge.v")
        var output = [Float](repeating: 0, count: queries * width), logSumExp = [Float](repeating: -.infinity, count: heads * queries)
        var partial = output, partialLogSumExp = logSumExp
        var start = 0
        for length in blocks {
            let shape = AttentionShape(batch: 1, queryLength: queries, keyLength: length, heads: heads, kvHeads: kvHeads, headDim: headDim,
                                       isCausal: false)
            Kernels.attention(q: q, qStride: width, k: Array(k[(start * kvWidth)...]), v: Array(v[(start * kvWidth)...]), kvStride: kvWidth,
                              into: &partial, outStride: width, logSumExp: &partialLogSumExp, shape: shape, pool: pool)
            partialLogSumExp = partialLogSumExp.map(corrupt)
            Kernels.mergeAttention(partial, partialStride: width, partialLogSumExp: partialLogSumExp, into: &output, outStride: width,
                                   logSumExp: &logSumExp, rows: queries, heads: heads, headDim: headDim, pool: pool)
            start += length
        }
        let reference = Reference.Attention(batch: 1, queryLength: queries, keyLength: keys, heads: heads, kvHeads: kvHeads,
                                            headDim: headDim, isCausal: false)
        return (output, logSumExp, reference.forward(q: q.map(Double.init), k: k.map(Double.init), v: v.map(Double.init)))
    }

    @Test(arguments: Fixtures.pools)
    func mergedBlocksEqualAttentionOverAllKeys(pool: ComputePool) {
        let (output, logSumExp, expected) = Self.merged(pool: pool)
        Comparison.expectClose(output, expected.output, "merged attention output")
        Comparison.expectClose(logSumExp, expected.logSumExp, "merged log-sum-exp")
    }

    /// Not vacuous: weighting the blocks wrongly (each partial log-sum-exp shifted in proportion to itself) is caught.
    @Test func wrongWeightsAreCaught() {
        let (output, _, expected) = Self.merged(pool: .serial, corrupt: { $0 * 1.1 })
        #expect(!Comparison.isClose(output, expected.output))
    }
}
