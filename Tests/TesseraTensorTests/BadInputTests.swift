import Testing
import TesseraTensor

/// Wrong shapes and out-of-range ids throw typed errors that name the shapes; nothing traps.
@Suite struct BadInputTests {
    let x = Tensor(shape: [4, 8])

    @Test func matmulNamesBothShapes() throws {
        let error = #expect(throws: TensorError.self) { try Tensor.matmul(Tensor(shape: [4, 8]), Tensor(shape: [6, 3])) }
        #expect(error == .incompatibleShapes(
            operation: "matmul", first: [4, 8], second: [6, 3],
            reason: "inner dimensions 8 and 6 differ (transposeA: false, transposeB: false)"))
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("[4, 8]") && message.contains("[6, 3]"))
        #expect(throws: TensorError.self) { try Tensor.matmul(Tensor(shape: [4]), Tensor(shape: [4, 3])) }
        #expect(try Tensor.matmul(Tensor(shape: [6, 4]), Tensor(shape: [6, 3]), transposeA: true).shape == [4, 3])
    }

    @Test func operandShapes() {
        #expect(throws: TensorError.incompatibleShapes(operation: "addingBias", first: [4, 8], second: [7], reason: "bias must be [8]")) {
            try x.addingBias(Tensor(shape: [7]))
        }
        #expect(throws: TensorError.self) { try Tensor.geluBackward(x, Tensor(shape: [8, 4])) }
        #expect(throws: TensorError.self) { try Tensor.siluBackward(x, Tensor(shape: [32])) }
        #expect(throws: TensorError.self) { try Tensor.swiglu(gate: x, up: Tensor(shape: [4, 9])) }
        #expect(throws: TensorError.self) { try Tensor.swigluBackward(gate: x, up: x, Tensor(shape: [4])) }
        #expect(throws: TensorError.self) { try x.layerNorm(weight: Tensor(shape: [8]), bias: Tensor(shape: [4])) }
        #expect(throws: TensorError.self) { try x.rmsNorm(weight: Tensor(shape: [4, 8])) }
        #expect(throws: TensorError.self) {
            try Tensor.rmsNormBackward(x, x: x, weight: Tensor(shape: [8]), rstd: Tensor(shape: [5]))
        }
        #expect(throws: TensorError.self) {
            try Tensor.layerNormBackward(x, x: x, weight: Tensor(shape: [8]), mean: Tensor(shape: [4]), rstd: Tensor(shape: [3]))
        }
        #expect(throws: TensorError.self) { try Tensor.softmaxBackward(x, Tensor(shape: [4, 7])) }
        #expect(throws: TensorError.invalidShape(operation: "softmax", shape: [], reason: "needs at least one dimension")) {
            try Tensor(shape: []).softmax()
        }
        #expect(throws: TensorError.self) { try Tensor.biasBackward(Tensor(shape: [])) }
    }

    @Test func idsOutOfRange() {
        let table = Tensor(shape: [10, 4])
        #expect(throws: TensorError.indexOutOfRange(operation: "embedding", index: 10, bound: 10)) {
            try Tensor.embedding(ids: [1, 10], table: table)
        }
        #expect(throws: TensorError.indexOutOfRange(operation: "embedding", index: -1, bound: 10)) {
            try Tensor.embedding(ids: [-1], table: table)
        }
        #expect(throws: TensorError.self) { try Tensor.embedding(ids: [1], table: table, vocabularyStart: 5, vocabularySize: 12) }
        #expect(throws: TensorError.self) { try Tensor.embeddingBackward(ids: [1, 2], Tensor(shape: [3, 4]), tableShape: [10, 4]) }
        #expect(throws: TensorError.indexOutOfRange(operation: "crossEntropy", index: 8, bound: 8)) {
            try Tensor.crossEntropy(logits: x, targets: [0, 1, 8, 2])
        }
        #expect(throws: TensorError.self) { try Tensor.crossEntropyWithGradient(logits: x, targets: [0, 1], gradientScale: 1) }
    }

    @Test func attentionGeometry() {
        let bad = AttentionShape(batch: 1, queryLength: 4, heads: 3, kvHeads: 2, headDim: 8)
        #expect(throws: TensorError.self) { try bad.validate() }
        let causalTooLong = AttentionShape(batch: 1, queryLength: 5, keyLength: 4, heads: 2, kvHeads: 2, headDim: 8)
        #expect(throws: TensorError.self) { try causalTooLong.validate() }
        #expect(throws: TensorError.self) { try AttentionShape(batch: 1, queryLength: 4, heads: 2, kvHeads: 0, headDim: 8).validate() }
        // A slice of a model's heads: 4 query heads from place 2 in groups of 3 read exactly 2 key/value heads.
        func slice(kvHeads: Int, offset: Int) -> AttentionShape {
            AttentionShape(batch: 1, queryLength: 4, heads: 4, kvHeads: kvHeads, headDim: 8, groupSize: 3, groupOffset: offset)
        }
        #expect(throws: Never.self) { try slice(kvHeads: 2, offset: 2).validate() }
        #expect(throws: TensorError.self) { try slice(kvHeads: 1, offset: 2).validate() }
        #expect(throws: TensorError.self) { try slice(kvHeads: 2, offset: 3).validate() }
        let good = AttentionShape(batch: 1, queryLength: 4, heads: 2, kvHeads: 1, headDim: 8)
        #expect(throws: TensorError.self) {
            try Tensor.attention(q: Tensor(shape: good.queryShape), k: Tensor(shape: good.queryShape), v: Tensor(shape: good.keyShape), shape: good)
        }
        #expect(throws: TensorError.self) { try Tensor.attention(q: Tensor(shape: [4, 16]), k: Tensor(shape: good.keyShape), v: Tensor(shape: good.keyShape), shape: good) }
    }

    @Test func rotaryShapes() {
        let odd = RotaryEmbedding(headDim: 7, theta: 10_000)
        #expect(throws: TensorError.self) { try odd.apply(to: Tensor(shape: [2, 14]), heads: 2, positions: [0, 1]) }
        let rotary = RotaryEmbedding(headDim: 8, theta: 10_000)
        #expect(throws: TensorError.self) { try rotary.apply(to: Tensor(shape: [2, 12]), heads: 2, positions: [0, 1]) }
        #expect(throws: TensorError.self) { try rotary.apply(to: Tensor(shape: [2, 16]), heads: 2, positions: [0]) }
    }
}
