import Foundation
import Testing
import TesseraNN
import TesseraTensor

@Suite struct OptimizerTests {
    func store(_ values: [[Float]], shapes: [[Int]]) -> ParameterStore {
        let specs = zip(values.indices, shapes).map { i, shape in
            ParameterSpec(name: "p\(i)", globalShape: shape, initialization: .constant(0))
        }
        let store = ParameterStore(specs: specs, seed: 0)
        for (p, v) in zip(store.parameters, values) { _ = p.value.update(fromContentsOf: v) }
        return store
    }

    /// AdamW against the torch.optim.AdamW update written out in Double: decay only on the 2-D parameter.
    @Test func adamWMatchesTorchSemantics() {
        let s = store([[0.5, -1, 2, 0.25], [0.1, -0.2]], shapes: [[2, 2], [2]])
        let config = AdamWConfiguration(beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1)
        let adam = AdamW(configuration: config, store: s)
        var theta = s.values.array.map(Double.init), m = [Double](repeating: 0, count: 6), v = m
        let decays = [true, true, true, true, false, false]
        for (t, lr) in [(1, 0.01), (2, 0.005)] {
            let g: [Double] = (0..<6).map { Double($0 + 1) * (t == 1 ? 0.3 : -0.7) }
            _ = s.gradients.mutableElements.update(fromContentsOf: g.map(Float.init))
            adam.step(s, learningRate: Float(lr))
            for i in 0..<6 {
                if decays[i] { theta[i] *= 1 - lr * 0.1 }
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.95 * v[i] + 0.05 * g[i] * g[i]
                let mHat = m[i] / (1 - pow(0.9, Double(t))), denominator = (v[i] / (1 - pow(0.95, Double(t)))).squareRoot() + 1e-8
                theta[i] -= lr * mHat / denominator
            }
        }
        for (a, b) in zip(s.values.array, theta) { #expect(abs(Double(a) - b) < 1e-6) }
        #expect(adam.stepCount == 2)
    }

    /// A ZeRO-style optimizer over a sub-range updates exactly that range.
    @Test func rangeOptimizerTouchesOnlyItsRange() {
        let s = store([[1, 1, 1, 1], [1, 1]], shapes: [[2, 2], [2]])
        s.gradients.mutableElements.update(repeating: 1)
        AdamW(configuration: AdamWConfiguration(), store: s, range: 2..<5).step(s, learningRate: 0.1)
        let values = s.values.array
        #expect(values[0] == 1 && values[1] == 1 && values[5] == 1)
        #expect(values[2] < 1 && values[3] < 1 && values[4] < 1)
    }

    @Test func cosineScheduleWithWarmupAndFloor() {
        let s = LearningRateSchedule(kind: .cosine, maxLearningRate: 1, minLearningRate: 0.1, warmupSteps: 2, totalSteps: 6)
        #expect(s.learningRate(atStep: 1) == 0.5)
        #expect(s.learningRate(atStep: 2) == 1)
        #expect(abs(s.learningRate(atStep: 4) - 0.55) < 1e-6)  // halfway: floor + half the span
        #expect(abs(s.learningRate(atStep: 6) - 0.1) < 1e-7)
        #expect(abs(s.learningRate(atStep: 9) - 0.1) < 1e-7)
        let c = LearningRateSchedule(kind: .constant, maxLearningRate: 3, warmupSteps: 3, totalSteps: 10)
        #expect(c.learningRate(atStep: 1) == 1 && c.learningRate(atStep: 7) == 3)
    }

    /// clip_grad_norm_: returns the norm before clipping, scales by max / (norm + 1e-6), counts each
    /// parameter once (a replica marked not counted is left out).
    @Test func clippingReportsNormBeforeClipping() {
        let specs = [ParameterSpec(name: "a", globalShape: [2], initialization: .constant(0)),
                     ParameterSpec(name: "b", globalShape: [1], initialization: .constant(0), countsInGlobalNorm: false)]
        let s = ParameterStore(specs: specs, seed: 0)
        _ = s.gradients.mutableElements.update(fromContentsOf: [3, 4, 100])
        let norm = GradientClipping.clip(s, maxNorm: 1)
        #expect(norm == 5)
        let scale = Float(1) / (5 + 1e-6)
        #expect(s.gradients.array == [3 * scale, 4 * scale, 100 * scale])
        _ = s.gradients.mutableElements.update(fromContentsOf: [0.3, 0.4, 0])
        #expect(abs(GradientClipping.clip(s, maxNorm: 1) - 0.5) < 1e-7)
        #expect(s.gradients.array == [0.3, 0.4, 0])
    }

    /// Clipping applied as AdamW reads the gradients gives the bits of clipping them first, on a pool that
    /// splits the update (vector bodies and tails included) as on one thread (values and moments); a scale one ulp
    /// off is seen.
    @Test func clippingInsideAdamWEqualsClippingFirst() {
        let values = (0..<41).map { Float($0 % 7) - 3.1 }, gradients = (0..<41).map { Float($0 % 5) * 0.37 - 0.9 }
        func run(fused: Bool, pool: ComputePool, scaleError: Float = 1) -> [Float] {
            let s = store([Array(values[0..<33]), Array(values[33...])], shapes: [[3, 11], [8]])
            _ = s.gradients.mutableElements.update(fromContentsOf: gradients)
            let adam = AdamW(configuration: AdamWConfiguration(weightDecay: 0.1), store: s, backend: CPUBackend(pool: pool))
            if fused {
                let norm = GradientClipping.norm(s) { $0 }
                adam.step(s, learningRate: 0.01, gradientScale: GradientClipping.coefficient(norm: norm, maxNorm: 1) * scaleError)
            } else {
                _ = GradientClipping.clip(s, maxNorm: 1)
                adam.step(s, learningRate: 0.01)
            }
            return s.values.array + adam.firstMoments.array + adam.secondMoments.array
        }
        let reference = run(fused: false, pool: .serial)
        #expect(run(fused: true, pool: .serial) == reference)
        #expect(run(fused: true, pool: ComputePool(threads: 3, minimumElementsPerThread: 1)) == reference)
        #expect(run(fused: true, pool: .serial, scaleError: Float(1).nextUp) != reference)
    }
}
