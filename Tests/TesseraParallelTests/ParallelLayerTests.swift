import Testing
import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraTensor

@Suite(.serialized) struct ParallelLayerTests {
    static let rows = 32, inFeatures = 64, outFeatures = 96

    /// A column-parallel projection over `tp` ranks: each rank's local output `[rows, out / tp]`.
    static func columnOutputs(tp: Int, layout: WeightLayout) throws -> [[Float]] {
        try ThreadGroup.run(ranks: tp, deadline: .seconds(30)) { world in
            let parallel = TensorParallelism(group: tp > 1 ? world : nil)
            let shape = layout == .outputMajor ? [outFeatures, inFeatures] : [inFeatures, outFeatures]
            let splitDimension = layout == .outputMajor ? 0 : 1
            let sharding: Sharding = tp == 1 ? .replicated : .split(dimension: splitDimension, parts: tp, index: world.rank)
            let store = ParameterStore(specs: [
                ParameterSpec(name: "w", globalShape: shape, sharding: sharding, initialization: .normal(std: 0.5)),
                ParameterSpec(name: "b", globalShape: [outFeatures], sharding: tp == 1 ? .replicated : .split(dimension: 0, parts: tp, index: world.rank),
                              initialization: .normal(std: 0.5)),
            ], seed: 9)
            let linear = ColumnParallelLinear(parts: [.init(weight: store["w"]!, bias: store["b"]!, layout: layout, inFeatures: inFeatures)],
                                              tp: parallel)
            let random = DeterministicRandom(seed: 1, stream: "x")
            let x = FloatBuffer(count: rows * inFeatures)
            random.fillNormal(x.mutableElements, indices: 0..<x.count)
            let input = try linear.gatherInput(x.pointer, localRows: rows, scratch: FloatBuffer(count: 0))
            let y = FloatBuffer(count: rows * linear.outFeatures)
            linear.forward(input, tokens: rows, into: y.pointer)
            return y.array
        }
    }

    /// Column-parallel outputs are the matching columns of the single-device output: no reduction is
    /// involved, each element is the same dot product over the same `in` values. Not bitwise: OpenBLAS's
    /// sgemm picks its blocking and micro-kernel by the output width, so products of width `out` and
    /// `out / tp` may add the k products in another order (we measured ≤ 2.2e-6 relative at k = 64); the
    /// bound is 1e-5 relative. A wrong column block or a missing bias would be off by O(1).
    @Test(arguments: [(2, WeightLayout.outputMajor), (4, .outputMajor), (2, .inputMajor), (3, .inputMajor)])
    func columnParallelOutputsAreTheMatchingColumns(tp: Int, layout: WeightLayout) throws {
        let whole = try Self.columnOutputs(tp: 1, layout: layout)[0]
        let shards = try Self.columnOutputs(tp: tp, layout: layout)
        let width = Self.outFeatures / tp
        var worst: Float = 0
        for (rank, shard) in shards.enumerated() {
            for r in 0..<Self.rows {
                for c in 0..<width {
                    let a = shard[r * width + c], b = whole[r * Self.outFeatures + rank * width + c]
                    worst = max(worst, abs(a - b) / max(1, abs(b)))
                }
            }
        }
        #expect(worst <= 1e-5)
    }

    /// Each mapping's forward and backward on 2 ranks, and the identity on one.
    @Test func mappingsForwardAndBackward() throws {
        let results = try ThreadGroup.run(ranks: 2, deadline: .seconds(30)) { world -> [[Float]] in
            let tp = TensorParallelism(group: world)
            let r = Float(world.rank)
            func run(_ mapping: ConjugateMapping, forward: Bool, _ values: [Float], rows: Int) throws -> [Float] {
                let x = FloatBuffer(values), scratch = FloatBuffer(count: 0)
                let columns = values.count / rows
                let y = forward ? try mapping.forward(x.pointer, rows: rows, columns: columns, scratch: scratch, in: tp)
                                : try mapping.backward(x.pointer, rows: rows, columns: columns, scratch: scratch, in: tp)
                let count = y == x.pointer ? x.count : scratch.count
                return Array(UnsafeBufferPointer(start: y, count: count))
            }
            return [
                try run(.copyToTensorRegion, forward: true, [r, 1], rows: 1),
                try run(.copyToTensorRegion, forward: false, [r, 1], rows: 1),
                try run(.reduceFromTensorRegion, forward: true, [r, 1], rows: 1),
                try run(.gatherFromSequenceRegion, forward: true, [r, r], rows: 1),
                try run(.gatherFromSequenceRegion, forward: false, [1, 2, 3 + r, 4], rows: 2),
                try run(.gatherFromTensorRegion, forward: true, [r, r, 10 + r, 10 + r], rows: 2),
                try run(.scatterToTensorRegion, forward: true, [1, 2, 3, 4], rows: 2),
            ]
        }
        #expect(results[0][0] == [0, 1] && results[1][0] == [1, 1])
        #expect(results[0][1] == [1, 2] && results[1][1] == [1, 2])
        #expect(results[0][2] == [1, 2])
        #expect(results[1][3] == [0, 0, 1, 1])
        #expect(results[0][4] == [2, 4] && results[1][4] == [7, 8])
        #expect(results[0][5] == [0, 0, 1, 1, 10, 10, 11, 11])
        #expect(results[0][6] == [1, 3] && results[1][6] == [2, 4])
        let single = try ConjugateMapping.allCases.map { mapping -> Bool in
            let x = FloatBuffer([1, 2])
            return try mapping.forward(x.pointer, rows: 1, columns: 2, scratch: FloatBuffer(count: 0), in: .single) == x.pointer
        }
        #expect(single.allSatisfy { $0 })
    }

    /// Vocab-parallel cross-entropy over 2 ranks (a vocabulary of 5 padded to 6) equals the fused
    /// single-device kernel; padding never enters the softmax.
    @Test func vocabParallelCrossEntropyMatchesFusedKernel() throws {
        let vocabulary = 5, tokens = 3
        let random = DeterministicRandom(seed: 4, stream: "logits")
        let logits = (0..<tokens * vocabulary).map { 2 * random.normal(at: $0) }
        let targets: [Int32] = [0, 4, 2]
        var reference = logits, referenceLosses = [Float](repeating: 0, count: tokens)
        Kernels.crossEntropyWithGradient(logitsToGradients: &reference, targets: targets, losses: &referenceLosses,
                                         rows: tokens, vocabulary: vocabulary, gradientScale: 0.5)
        let results = try ThreadGroup.run(ranks: 2, deadline: .seconds(30)) { world -> ([Float], [Float]) in
            let start = world.rank * 3, count = min(3, vocabulary - start)
            let local = FloatBuffer(count: tokens * 3)
            for t in 0..<tokens { for c in 0..<count { local.pointer[t * 3 + c] = logits[t * vocabulary + start + c] } }
            let losses = FloatBuffer(count: tokens)
            let loss = VocabParallelCrossEntropy(vocabularyStart: start, vocabularyCount: count, tp: TensorParallelism(group: world))
            try targets.withUnsafeBufferPointer {
                try loss(logits: local.pointer, ld: 3, targets: $0.baseAddress!, tokens: tokens, losses: losses.pointer,
                         gradientScale: 0.5, rowStatistics: FloatBuffer(count: 0))
            }
            return (losses.array, local.array)
        }
        for rank in 0..<2 {
            for t in 0..<tokens { #expect(abs(results[rank].0[t] - referenceLosses[t]) < 1e-6) }
            let start = rank * 3
            for t in 0..<tokens {
                for c in 0..<min(3, vocabulary - start) {
                    #expect(abs(results[rank].1[t * 3 + c] - reference[t * vocabulary + start + c]) < 1e-7)
                }
            }
        }
    }
}
