import TesseraPipeline

/// Per-micro-batch costs of one model chunk (or of a whole pipeline rank): forward, input-gradient and
/// weight-gradient passes (seconds or any common unit). Schedules that do not split the backward treat
/// `backwardInput + backwardWeight` as one pass.
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

    func scaled(by factor: Double) -> StageCosts {
        StageCosts(forward: forward * factor, backwardInput: backwardInput * factor,
                   backwardWeight: backwardWeight * factor)
    }
}

/// The seam between the planner and pipeline timing: how long one step of a schedule takes when every model chunk
/// has its own per-micro-batch costs (the first chunk carries the embedding, the last the LM head and loss).
///
/// ``ClosedFormBubble`` answers from the published formulas; ``SimulatedBubble`` times the schedule's actions with
/// TesseraPipeline's simulator. Either way the search asks once per distinct question (``CachedBubbleModel``).
public protocol PipelineBubbleModel {
    /// Step time (in the unit of `chunks`) of `microBatches` micro-batches over `stages` ranks with
    /// `virtualStages` chunks per rank; `chunks[c · stages + r]` is the per-micro-batch cost of rank r's local
    /// chunk c (model chunk c·p + r), so `chunks.count == stages · virtualStages`. Communication is folded into the
    /// costs.
    func stepTime(
        schedule: PipelineScheduleKind, stages: Int, microBatches: Int, virtualStages: Int, chunks: [StageCosts]
    ) -> Double
}

extension PipelineBubbleModel {
    /// Idle fraction of the step (0 ≤ result < 1) when every rank's per-micro-batch costs are `costs` (each of its
    /// `virtualStages` chunks taking 1/v of them).
    public func bubbleFraction(
        schedule: PipelineScheduleKind, stages: Int, microBatches: Int, virtualStages: Int, costs: StageCosts
    ) -> Double {
        guard stages > 1 else { return 0 }
        let chunk = costs.scaled(by: 1 / Double(virtualStages))
        let step = stepTime(
            schedule: schedule, stages: stages, microBatches: microBatches, virtualStages: virtualStages,
            chunks: Array(repeating: chunk, count: stages * virtualStages))
        return max(0, 1 - Double(microBatches) * costs.total / step)
    }
}

/// Per-rank totals of a chunk table: rank r holds chunks r, r + p, r + 2p, …
func rankTotals(_ chunks: [StageCosts], stages: Int) -> [StageCosts] {
    var totals = Array(repeating: StageCosts(forward: 0, backwardInput: 0, backwardWeight: 0), count: stages)
    for (index, chunk) in chunks.enumerated() {
        totals[index % stages].forward += chunk.forward
        totals[index % stages].backwardInput += chunk.backwardInput
        totals[index % stages].backwardWeight += chunk.backwardWeight
    }
    return totals
}

/// The time each micro-batch adds to a step in the steady state: the slowest rank's work, or for GPipe (all
/// forwards, then all backwards) the slowest forward plus the slowest backward.
func steadyStateWork(_ schedule: PipelineScheduleKind, _ ranks: [StageCosts]) -> Double {
    if schedule == .gpipe {
        return (ranks.map(\.forward).max() ?? 0) + (ranks.map { $0.backwardInput + $0.backwardWeight }.max() ?? 0)
    }
    return ranks.map(\.total).max() ?? 0
}

/// Step times from the papers, exact for equal ranks: every micro-batch costs the slowest rank its work, and the
/// warm-up and cool-down idle as the formulas say for that rank's costs. GPipe and 1F1B idle (p-1)(F+B)
/// (Narayanan et al. 2021 §2.2.1); interleaved 1F1B the same divided by v (§2.2.2); ZB-H1 (p-1)(F+B-W) (Qi et al.
/// 2023, "Zero Bubble Pipeline Parallelism", §3).
public struct ClosedFormBubble: PipelineBubbleModel {
    public init() {}

    public func stepTime(
        schedule: PipelineScheduleKind, stages p: Int, microBatches m: Int, virtualStages v: Int, chunks: [StageCosts]
    ) -> Double {
        let slowest = rankTotals(chunks, stages: p).max { $0.total < $1.total }
            ?? StageCosts(forward: 0, backwardInput: 0, backwardWeight: 0)
        let warmup = Double(p - 1)
        let idle: Double
        switch schedule {
        case .gpipe, .oneForwardOneBackward: idle = warmup * slowest.total
        case .interleaved: idle = warmup * slowest.total / Double(max(v, 1))
        case .zeroBubbleH1: idle = warmup * max(0, slowest.forward + slowest.backwardInput - slowest.backwardWeight)
        }
        return Double(m) * slowest.total + idle
    }
}

/// Asks the wrapped model once per distinct question and remembers the answer, so that a search over hundreds of
/// thousands of layouts asks a few dozen questions.
///
/// Two facts keep the questions few. The costs enter the key only as a pattern: each chunk's passes in units of
/// 1/32 of the largest chunk's total (F and B+W; for ZB-H1 F, B and W), which moves only the warm-up and cool-down
/// idle, a few percent of a step, by a small part of itself. And past the warm-up every schedule here is in its
/// steady state, where each further micro-batch adds the same work: the slowest rank's (GPipe: the slowest
/// forward plus the slowest backward) and no idle time. So the wrapped model is asked at m' = min(m, p), or
/// min(m, 2p) with virtual stages (their warm-up is longer), and the idle time it reports carries over to any
/// m ≥ m'. That is exact for the chunk patterns the planner builds (equal middle chunks, a first chunk no heavier
/// than the last, which carries the LM head); `PipelineBubbleTests` checks it against direct simulation. (With a
/// heavy chunk in the middle of an interleaved pipeline the true steady state can be slower than any one rank.)
public final class CachedBubbleModel: PipelineBubbleModel {
    private let model: any PipelineBubbleModel
    /// Step time beyond the steady-state work, in units of the key's quantum, per question.
    private var cache: [Key: Double] = [:]
    /// How many distinct questions reached the wrapped model.
    public private(set) var misses = 0
    /// Quanta per largest chunk.
    static let steps = 32.0

    struct Key: Hashable {
        var schedule: PipelineScheduleKind
        var stages, microBatches, virtualStages: Int
        var pattern: [Int]
    }

    public init(_ model: any PipelineBubbleModel) { self.model = model }

    public func stepTime(
        schedule: PipelineScheduleKind, stages: Int, microBatches: Int, virtualStages: Int, chunks: [StageCosts]
    ) -> Double {
        let slowest = steadyStateWork(schedule, rankTotals(chunks, stages: stages))
        guard stages > 1, slowest > 0 else { return Double(microBatches) * slowest }
        let quantum = (chunks.map(\.total).max() ?? 1) / Self.steps
        func units(_ value: Double) -> Int { Int((value / quantum).rounded()) }
        var pattern: [Int] = []
        var quantized: [StageCosts] = []
        pattern.reserveCapacity(chunks.count * 3)
        quantized.reserveCapacity(chunks.count)
        for chunk in chunks {
            let f = units(chunk.forward)
            if schedule.splitsBackward {
                let b = units(chunk.backwardInput), w = units(chunk.backwardWeight)
                pattern += [f, b, w]
                quantized.append(StageCosts(forward: Double(f), backwardInput: Double(b), backwardWeight: Double(w)))
            } else {
                let b = units(chunk.backwardInput + chunk.backwardWeight)
                pattern += [f, b]
                quantized.append(StageCosts(forward: Double(f), backwardInput: Double(b), backwardWeight: 0))
            }
        }
        let asked = min(microBatches, (virtualStages > 1 ? 2 : 1) * stages)
        let key = Key(schedule: schedule, stages: stages, microBatches: asked, virtualStages: virtualStages,
                      pattern: pattern)
        let idle: Double
        if let hit = cache[key] {
            idle = hit
        } else {
            misses += 1
            let step = model.stepTime(
                schedule: schedule, stages: stages, microBatches: asked, virtualStages: virtualStages,
                chunks: quantized)
            let slowestUnits = steadyStateWork(schedule, rankTotals(quantized, stages: stages))
            idle = max(0, step - Double(asked) * slowestUnits)
            cache[key] = idle
        }
        return Double(microBatches) * slowest + idle * quantum
    }
}

/// Step times from TesseraPipeline's simulator: the schedule is generated as data (every action of every rank)
/// and timed with each model chunk's own costs; communication is already folded into those costs, so transfers
/// are free here. Wrap it in ``CachedBubbleModel``: timing a schedule of p = 64, m = 512, v = 2 (about 130,000
/// compute actions) takes a second.
public struct SimulatedBubble: PipelineBubbleModel {
    public init() {}

    /// Falls back to ``ClosedFormBubble`` for a configuration the simulator rejects (none that the search
    /// generates: interleaving is only offered when m is a multiple of p).
    public func stepTime(
        schedule: PipelineScheduleKind, stages: Int, microBatches: Int, virtualStages: Int, chunks: [StageCosts]
    ) -> Double {
        let uniform = chunks.allSatisfy { $0 == chunks.first }
        let table = uniform ? Array(chunks.prefix(1)) : chunks
        let costs = schedule.splitsBackward
            ? PipelineCosts(forward: table.map(\.forward), backwardInput: table.map(\.backwardInput),
                            backwardWeight: table.map(\.backwardWeight))
            : PipelineCosts(forward: table.map(\.forward), backwardInput: table.map { $0.backwardInput + $0.backwardWeight })
        guard let simulation = try? PipelineSchedule(
            schedule, stages: stages, microBatches: microBatches, virtualStages: virtualStages
        ).simulated(costs: costs) else {
            return ClosedFormBubble().stepTime(
                schedule: schedule, stages: stages, microBatches: microBatches, virtualStages: virtualStages,
                chunks: chunks)
        }
        return simulation.stepTime
    }
}

extension PipelineSchedule {
    fileprivate func simulated(costs: PipelineCosts) throws -> PipelineSimulation {
        try PipelineSimulator.simulate(schedule: self, costs: costs)
    }
}
