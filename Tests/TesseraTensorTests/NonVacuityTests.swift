import Testing
import TesseraTensor

/// The comparisons above can fail: deliberately wrong variants of kernels are caught by the same
/// helper and tolerance.
@Suite struct NonVacuityTests {
    /// LayerNorm with the unbiased variance (n − 1), a classic slip.
    @Test func unbiasedVarianceIsCaught() throws {
        let columns = 64
        let x = Fixtures.tensor([8, columns], stream: "nv.x"), weight = Tensor(shape: [columns], repeating: 1)
        let bias = Tensor(shape: [columns])
        let right = try x.layerNorm(weight: weight, bias: bias, epsilon: 1e-5).output
        let expected = Reference.layerNorm(x.doubles, weight: weight.doubles, bias: bias.doubles, epsilon: 1e-5)
        #expect(Comparison.isClose(right.scalars, expected))
        let n = Float(columns)
        let wrong = right.scalars.map { $0 * (n - 1).squareRoot() / n.squareRoot() }
        #expect(!Comparison.isClose(wrong, expected))
    }

    /// Attention that forgets the causal mask, and attention that reads key/value head `h % kvHeads`
    /// instead of `h / group`.
    @Test func maskAndHeadMappingSlipsAreCaught() throws {
        let causal = Reference.Attention(batch: 1, queryLength: 9, keyLength: 9, heads: 4, kvHeads: 2, headDim: 8, isCausal: true)
        let shape = AttentionShape(batch: 1, queryLength: 9, heads: 4, kvHeads: 2, headDim: 8)
        let q = Fixtures.tensor(shape.queryShape, stream: "nv.q"), k = Fixtures.tensor(shape.keyShape, stream: "nv.k")
        let v = Fixtures.tensor(shape.keyShape, stream: "nv.v")
        let expected = causal.forward(q: q.doubles, k: k.doubles, v: v.doubles).output
        #expect(Comparison.isClose(try Tensor.attention(q: q, k: k, v: v, shape: shape).output.scalars, expected))
        var unmasked = shape
        unmasked.isCausal = false
        #expect(!Comparison.isClose(try Tensor.attention(q: q, k: k, v: v, shape: unmasked).output.scalars, expected))
        // Swapping the two key/value heads is what `h % kvHeads` does for h = 1, 2.
        var swappedScalars: [Float] = []
        for t in 0..<9 {
            swappedScalars += k.scalars[(t * 16 + 8)..<(t * 16 + 16)]
            swappedScalars += k.scalars[(t * 16)..<(t * 16 + 8)]
        }
        let swapped = try Tensor(shape: shape.keyShape, scalars: swappedScalars)
        #expect(!Comparison.isClose(try Tensor.attention(q: q, k: swapped, v: v, shape: shape).output.scalars, expected))
    }

    /// An RMSNorm backward that treats `rstd` as a constant (drops the `−x·rstd³·mean(g·x)` term) is
    /// caught by the finite-difference comparison.
    @Test func backwardThatIgnoresTheNormalizerIsCaught() throws {
        let columns = 16
        let x = Fixtures.tensor([4, columns], stream: "nv.rms.x"), weight = Fixtures.tensor([columns], stream: "nv.rms.w", offset: 1)
        let dy = Fixtures.tensor([4, columns], stream: "nv.rms.dy")
        let (_, rstd) = try x.rmsNorm(weight: weight)
        let numerical = Comparison.numericalGradient(at: x.doubles) {
            Comparison.weightedSum(Reference.rmsNorm($0, weight: weight.doubles, epsilon: 1e-5), dy.doubles)
        }
        let right = try Tensor.rmsNormBackward(dy, x: x, weight: weight, rstd: rstd).dx
        #expect(Comparison.isClose(right.scalars, numerical))
        let wrong = (0..<x.count).map { dy.scalars[$0] * weight.scalars[$0 % columns] * rstd.scalars[$0 / columns] }
        #expect(!Comparison.isClose(wrong, numerical))
    }

    /// A fused cross-entropy gradient that forgets to subtract the one-hot target.
    @Test func crossEntropyWithoutTheTargetTermIsCaught() throws {
        let logits = Fixtures.tensor([3, 10], stream: "nv.ce")
        let targets: [Int32] = [1, 9, 4]
        let numerical = Comparison.numericalGradient(at: logits.doubles) {
            Reference.crossEntropy($0, targets: targets, vocabulary: 10).reduce(0, +)
        }
        let right = try Tensor.crossEntropyWithGradient(logits: logits, targets: targets, gradientScale: 1).gradients
        #expect(Comparison.isClose(right.scalars, numerical))
        #expect(!Comparison.isClose(try logits.softmax().scalars, numerical))
    }
}
