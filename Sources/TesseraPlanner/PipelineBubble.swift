/// Per-micro-batch costs on one pipeline rank: forward, input-gradient and weight-gradient passes (seconds or any
/// common unit). Schedules that do not split the backward treat `backwardInput + backwardWeight` as one pass.
public struct StageCosts: Sendable, Equatable {
    public var forward: Double
    public var backwardInput: Double
    public var backwardWeight: Double

    public init(forward: Double, backwardInput: Double, backwardWeight: Double) {
        self.forward = forward
        self.backwardInput = backwardInput
        self.backwardWeight = backwardWeight
    }

    var total: Double { forward + backwardInput + backwardWeight }
}

/// The seam between the planner and pipeline timing: the fraction of a step a pipeline rank idles, for a schedule.
///
/// ``ClosedFormBubble`` answers from the published formulas; a simulator-backed model (TesseraPipeline) can answer
/// for any schedule by timing its actions. Either way the search asks once per distinct question
/// (``CachedBubbleModel``).
public protocol PipelineBubbleModel {
    /// Idle fraction of the step (0 ≤ result < 1) for `microBatches` micro-batches over `stages` ranks with
    /// `virtualStages` chunks per rank.
    func bubbleFraction(
        schedule: PipelineScheduleKind, stages: Int, microBatches: Int, virtualStages: Int, costs: StageCosts
    ) -> Double
}

/// Bubble fractions from the papers, for uniform per-stage costs:
/// GPipe and 1F1B: (p-1)/(m+p-1) (Narayanan et al. 2021 §2.2.1); interleaved 1F1B: the bubble time divided by v
/// (§2.2.2), i.e. ((p-1)/v)/(m+(p-1)/v); ZB-H1: a bubble of (p-1)(F+B-W) (Qi et al. 2023, "Zero Bubble Pipeline
/// Parallelism", §3).
public struct ClosedFormBubble: PipelineBubbleModel {
    public init() {}

    public func bubbleFraction(
        schedule: PipelineScheduleKind, stages p: Int, microBatches m: Int, virtualStages v: Int, costs: StageCosts
    ) -> Double {
        guard p > 1 else { return 0 }
        let warmup = Double(p - 1)
        let work = Double(m) * costs.total
        let idle: Double
        switch schedule {
        case .noPipeline: return 0
        case .gpipe, .oneFOneB: idle = warmup * costs.total
        case .interleaved: idle = warmup * costs.total / Double(max(v, 1))
        case .zeroBubbleH1:
            idle = warmup * max(0, costs.forward + costs.backwardInput - costs.backwardWeight)
        }
        return idle / (work + idle)
    }
}

/// Asks the wrapped model once per distinct (schedule, p, m, v, cost ratios) and remembers the answer.
/// Costs are compared by their ratios rounded to 1/256 of the total, which moves a bubble by well under 1%.
public final class CachedBubbleModel: PipelineBubbleModel {
    private let model: any PipelineBubbleModel
    private var cache: [Key: Double] = [:]
    /// How many distinct questions reached the wrapped model.
    public private(set) var misses = 0

    struct Key: Hashable {
        var schedule: PipelineScheduleKind
        var stages, microBatches, virtualStages: Int
        var forward, backwardInput: Int
    }

    public init(_ model: any PipelineBubbleModel) { self.model = model }

    public func bubbleFraction(
        schedule: PipelineScheduleKind, stages: Int, microBatches: Int, virtualStages: Int, costs: StageCosts
    ) -> Double {
        guard stages > 1 else { return 0 }
        let total = costs.total
        let f = Int((costs.forward / total * 256).rounded())
        let b = Int((costs.backwardInput / total * 256).rounded())
        let key = Key(
            schedule: schedule, stages: stages, microBatches: microBatches, virtualStages: virtualStages,
            forward: f, backwardInput: b)
        if let hit = cache[key] { return hit }
        misses += 1
        let unit = StageCosts(
            forward: Double(f) / 256, backwardInput: Double(b) / 256, backwardWeight: Double(256 - f - b) / 256)
        let fraction = model.bubbleFraction(
            schedule: schedule, stages: stages, microBatches: microBatches, virtualStages: virtualStages, costs: unit)
        cache[key] = fraction
        return fraction
    }
}
