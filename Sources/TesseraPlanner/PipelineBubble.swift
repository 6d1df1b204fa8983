import TesseraPipeline

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
        case .gpipe, .oneForwardOneBackward: idle = warmup * costs.total
        case .interleaved: idle = warmup * costs.total / Double(max(v, 1))
        case .zeroBubbleH1:
            idle = warmup * max(0, costs.forward + costs.backwardInput - costs.backwardWeight)
        }
        return idle / (work + idle)
    }
}

/// Asks the wrapped model once per distinct question and remembers the answer, so that a search over hundreds of
/// thousands of layouts asks a few hundred questions.
///
/// Two facts keep the questions few. Only ZB-H1's bubble depends on how a micro-batch's time splits into F, B and
/// W (GPipe, 1F1B and interleaved idle for whole forward-backward slots, whatever the split), so only for ZB-H1 the
/// key holds the split, rounded to 1/64 of the total (which moves its bubble by under 2% of itself). And once
/// m ≥ p every schedule here is in its steady state: each further micro-batch adds exactly its own work to every
/// rank and no idle time (the warm-up and cool-down do not grow). So the wrapped model is asked at
/// m' = min(m, p) and its idle time, in units of one micro-batch's work, carries over to any m ≥ m'
/// (`PipelineBubbleTests` checks this against direct simulation).
public final class CachedBubbleModel: PipelineBubbleModel {
    private let model: any PipelineBubbleModel
    /// Idle time per rank over the work of one micro-batch, per question.
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
        let steps = 64.0
        let total = costs.total
        var f = 1, b = 1, w = 1
        if schedule.splitsBackward {
            f = Int((costs.forward / total * steps).rounded())
            b = Int((costs.backwardInput / total * steps).rounded())
            w = Int(steps) - f - b
        }
        let asked = min(microBatches, stages)
        let key = Key(
            schedule: schedule, stages: stages, microBatches: asked, virtualStages: virtualStages,
            forward: f, backwardInput: b)
        let idle: Double
        if let hit = cache[key] {
            idle = hit
        } else {
            misses += 1
            let unit = StageCosts(forward: Double(f), backwardInput: Double(b), backwardWeight: Double(w))
            let fraction = model.bubbleFraction(
                schedule: schedule, stages: stages, microBatches: asked, virtualStages: virtualStages, costs: unit)
            idle = fraction / (1 - fraction) * Double(asked)
            cache[key] = idle
        }
        return idle / (Double(microBatches) + idle)
    }
}

/// Bubble fractions from TesseraPipeline's simulator: the schedule is generated as data (every action of every
/// rank) and timed with the given per-micro-batch costs; communication is already folded into those costs, so
/// transfers are free here. The idle fraction it reports (idle time of all ranks over p · step time) is the
/// fraction of each rank's step spent idle when the ranks do equal work. Wrap it in ``CachedBubbleModel``: timing a
/// schedule of p = 64, m = 512, v = 2 (about 130,000 compute actions) takes a second.
public struct SimulatedBubble: PipelineBubbleModel {
    public init() {}

    /// Falls back to ``ClosedFormBubble`` for a configuration the simulator rejects (none that the search
    /// generates: interleaving is only offered when m is a multiple of p).
    public func bubbleFraction(
        schedule: PipelineScheduleKind, stages: Int, microBatches: Int, virtualStages: Int, costs: StageCosts
    ) -> Double {
        guard stages > 1 else { return 0 }
        // Per-chunk costs: with v chunks per rank each holds 1/v of the rank's layers.
        let v = Double(virtualStages)
        let pipelineCosts = schedule.splitsBackward
            ? PipelineCosts(forward: costs.forward / v, backwardInput: costs.backwardInput / v,
                            backwardWeight: costs.backwardWeight / v)
            : PipelineCosts(forward: costs.forward / v, backwardInput: (costs.backwardInput + costs.backwardWeight) / v)
        guard let simulation = try? PipelineSchedule(
            schedule, stages: stages, microBatches: microBatches, virtualStages: virtualStages
        ).simulated(costs: pipelineCosts) else {
            return ClosedFormBubble().bubbleFraction(
                schedule: schedule, stages: stages, microBatches: microBatches, virtualStages: virtualStages,
                costs: costs)
        }
        return simulation.bubbleFraction
    }
}

extension PipelineSchedule {
    fileprivate func simulated(costs: PipelineCosts) throws -> PipelineSimulation {
        try PipelineSimulator.simulate(schedule: self, costs: costs)
    }
}
