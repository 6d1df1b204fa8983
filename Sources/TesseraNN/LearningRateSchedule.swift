#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A learning rate per optimizer step: linear warm-up, then constant or cosine decay to a floor.
///
/// Steps count from 1. For step `s` with `W` warm-up steps and `S` total steps:
/// - `s ≤ W`: `lr = maxLR · s / W` (linear warm-up reaching the peak on step `W`);
/// - constant: `lr = maxLR` afterwards;
/// - cosine: with `p = min(1, (s − W) / (S − W))`, `lr = minLR + ½(1 + cos(π·p))·(maxLR − minLR)`,
///   so the last step runs at the floor (the shape of nanoGPT's `get_lr`, Karpathy 2023).
public struct LearningRateSchedule: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case constant, cosine
    }

    public var kind: Kind
    public var maxLearningRate: Float
    /// The floor the cosine decays to (ignored by `constant`).
    public var minLearningRate: Float
    public var warmupSteps: Int
    /// The step at which the cosine reaches the floor (the run's length).
    public var totalSteps: Int

    public init(kind: Kind, maxLearningRate: Float, minLearningRate: Float = 0, warmupSteps: Int = 0, totalSteps: Int) {
        self.kind = kind
        self.maxLearningRate = maxLearningRate
        self.minLearningRate = minLearningRate
        self.warmupSteps = max(0, warmupSteps)
        self.totalSteps = totalSteps
    }

    /// The learning rate of step `step` (from 1).
    public func learningRate(atStep step: Int) -> Float {
        if step <= warmupSteps { return maxLearningRate * Float(step) / Float(warmupSteps) }
        switch kind {
        case .constant:
            return maxLearningRate
        case .cosine:
            let span = totalSteps - warmupSteps
            let progress = span <= 0 ? 1 : min(1, Double(step - warmupSteps) / Double(span))
            let coefficient = Float(0.5 * (1 + cos(Double.pi * progress)))
            return minLearningRate + coefficient * (maxLearningRate - minLearningRate)
        }
    }
}
