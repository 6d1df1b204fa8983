#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import TesseraTensor

/// AdamW hyper-parameters. Defaults are PyTorch's `torch.optim.AdamW` defaults.
public struct AdamWConfiguration: Sendable, Hashable, Codable {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// Decoupled weight decay, applied only to parameters whose spec ``ParameterSpec/decays``.
    public var weightDecay: Float

    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }
}

/// AdamW with the semantics of `torch.optim.AdamW` (Loshchilov and Hutter 2019): decoupled weight decay
/// `θ ← θ·(1 − lr·λ)`, moments `m ← lerp(m, g, 1 − β₁)`, `v ← β₂·v + (1 − β₂)·g²`, and
/// `θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)` (ε after the square root), in that order.
///
/// The optimizer owns a contiguous `range` of a ``ParameterStore``'s flat buffers and the moments for
/// exactly that range, so a ZeRO-1 layout gives each data-parallel rank its own slice. The update is
/// element-wise and split over the rank's ``ComputePool``: every backend size gives the same bits.
public final class AdamW: @unchecked Sendable {
    public let configuration: AdamWConfiguration
    /// The flat range of the store's values this optimizer updates.
    public let range: Range<Int>
    /// First moments for `range` (element `i` belongs to flat index `range.lowerBound + i`).
    public let firstMoments: FloatBuffer
    /// Second moments for `range`.
    public let secondMoments: FloatBuffer
    /// Steps taken so far (the `t` of the bias corrections).
    public private(set) var stepCount = 0
    /// The threads the update runs on.
    public let backend: any ComputeBackend
    /// Sub-ranges of `range` with their decay flag, in order.
    private let segments: [(range: Range<Int>, decays: Bool)]

    /// An optimizer for `range` (default: everything) of `store`, updating on `backend`.
    public init(configuration: AdamWConfiguration, store: ParameterStore, range: Range<Int>? = nil, backend: any ComputeBackend = CPUBackend.serial) {
        let range = range ?? 0..<store.count
        precondition(range.lowerBound >= 0 && range.upperBound <= store.count, "range \(range) outside the store of \(store.count)")
        self.configuration = configuration
        self.range = range
        self.backend = backend
        firstMoments = FloatBuffer(count: range.count)
        secondMoments = FloatBuffer(count: range.count)
        segments = store.parameters.compactMap { p in
            let own = p.offset..<p.offset + p.count
            let part = own.clamped(to: range)
            return part.isEmpty ? nil : (part, p.spec.decays)
        }
    }

    /// Takes one step on `store` (which must be the store given at creation) with learning rate `learningRate`,
    /// reading each gradient times `gradientScale` (a clipping coefficient applied on the fly, with the bits of
    /// scaling the gradients first; the stored gradients are left as they are).
    public func step(_ store: ParameterStore, learningRate: Float, gradientScale: Float = 1) {
        stepCount += 1
        let c = configuration
        let t = Double(stepCount)
        let stepSize = Float(Double(learningRate) / (1 - pow(Double(c.beta1), t)))
        let correction2 = Float(sqrt(1 - pow(Double(c.beta2), t)))
        let values = store.values.pointer, gradients = store.gradients.pointer
        for segment in segments {
            let local = segment.range.lowerBound - range.lowerBound
            let constants = AdamWStep(decayFactor: segment.decays ? 1 - learningRate * c.weightDecay : 1, beta1: c.beta1,
                                      beta2: c.beta2, stepSize: stepSize, correction2: correction2, epsilon: c.epsilon,
                                      gradientScale: gradientScale)
            backend.adamW(values: values + segment.range.lowerBound, gradients: gradients + segment.range.lowerBound,
                          firstMoments: firstMoments.pointer + local, secondMoments: secondMoments.pointer + local,
                          count: segment.range.count, step: constants)
        }
    }

    /// Restores the step count (when resuming from a checkpoint with saved moments).
    public func restore(stepCount: Int) { self.stepCount = stepCount }
}
