import Testing
import TesseraTensor

@Suite struct SoftmaxTests {
    @Test(arguments: Fixtures.pools)
    func softmaxForwardAndBackward(pool: ComputePool) throws {
        let columns = 45
        let x = Fixtures.tensor([3, 7, columns], stream: "softmax.x", scale: 4)
        let dy = Fixtures.tensor([3, 7, columns], stream: "softmax.dy")
        let y = try x.softmax(pool: pool)
        let reference = { (x: [Double]) in Reference.rows(x, columns: columns, Reference.softmax) }
        Comparison.expectClose(y.scalars, reference(x.doubles), "softmax")
        let dx = try Tensor.softmaxBackward(y, dy, pool: pool)
        let expected = Comparison.numericalGradient(at: x.doubles) { Comparison.weightedSum(reference($0), dy.doubles) }
        Comparison.expectClose(dx.scalars, expected, "softmax backward")
        let serial = (try x.softmax(), try Tensor.softmaxBackward(y, dy))
        #expect(y == serial.0 && dx == serial.1, "the pool changed the bits")
    }

    /// Large logits (softmax must subtract the maximum) and a row of −∞ masks but one.
    @Test func softmaxIsStable() throws {
        let x = try Tensor(shape: [2, 3], scalars: [1000, 999, -1000, -.infinity, 0, -.infinity])
        let y = try x.softmax()
        Comparison.expectClose(y.scalars, Reference.softmax([1000, 999, -1000]) + [0, 1, 0], "stable softmax")
    }

    @Test(arguments: Fixtures.pools, [50, 1100])
    func crossEntropyAndItsFusedGradient(pool: ComputePool, vocabulary: Int) throws {
        let rows = 9
        let logits = Fixtures.tensor([rows, vocabulary], stream: "ce.logits", scale: 3)
        let targets = (0..<rows).map { Int32(($0 * 7919) % vocabulary) }
        let expectedLosses = Reference.crossEntropy(logits.doubles, targets: targets, vocabulary: vocabulary)
        let losses = try Tensor.crossEntropy(logits: logits, targets: targets, pool: pool)
        Comparison.expectClose(losses.scalars, expectedLosses, "cross-entropy")

        let scale: Float = 1 / Float(rows)
        let fused = try Tensor.crossEntropyWithGradient(logits: logits, targets: targets, gradientScale: scale, pool: pool)
        Comparison.expectClose(fused.losses.scalars, expectedLosses, "fused cross-entropy losses")
        // The gradient of the mean loss: central differences would need 2·rows·vocabulary evaluations, so
        // the large vocabulary uses the closed form, which the small one checks against finite differences.
        let logitValues = logits.doubles
        let closedForm = (0..<rows).flatMap { r -> [Double] in
            let p = Reference.softmax(Array(logitValues[r * vocabulary..<(r + 1) * vocabulary]))
            return p.indices.map { (p[$0] - ($0 == Int(targets[r]) ? 1 : 0)) * Double(scale) }
        }
        if vocabulary <= 64 {
            let numerical = Comparison.numericalGradient(at: logits.doubles) {
                Reference.crossEntropy($0, targets: targets, vocabulary: vocabulary).reduce(0, +) * Double(scale)
            }
            Comparison.expectClose(closedForm.map(Float.init), numerical, "closed-form cross-entropy gradient")
        }
        Comparison.expectClose(fused.gradients.scalars, closedForm, "fused cross-entropy gradient")
        let serial = try Tensor.crossEntropyWithGradient(logits: logits, targets: targets, gradientScale: scale)
        #expect(serial.gradients == fused.gradients && serial.losses == fused.losses, "the pool changed the bits")
    }
}
