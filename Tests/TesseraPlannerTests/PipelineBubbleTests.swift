import Testing
import TesseraPipeline
import TesseraPlanner

@Suite struct PipelineBubbleTests {
    static let uniform = StageCosts(forward: 1, backwardInput: 1, backwardWeight: 1)

    /// Chunk costs with a heavier last chunk (the LM head and loss) and a slightly heavier first one (the
    /// embedding), `chunks[c·p + r]` on rank r.
    static func headHeavy(stages p: Int, virtualStages v: Int, head: Double = 0.5) -> [StageCosts] {
        let body = StageCosts(forward: 1, backwardInput: 1.25, backwardWeight: 0.75)
        return (0..<(p * v)).map { index in
            index == p * v - 1 ? StageCosts(forward: 1 + head, backwardInput: 1.25 + 1.5 * head, backwardWeight: 0.75 + head)
                : index == 0 ? StageCosts(forward: 1.05, backwardInput: 1.25, backwardWeight: 0.75) : body
        }
    }

    /// The simulator agrees with the published formulas for uniform costs: (p-1)/(m+p-1) for GPipe and 1F1B,
    /// (p-1)/(vm+p-1) for interleaved, (p-1)(F+B-W) idle for ZB-H1.
    @Test(arguments: PipelineScheduleKind.allCases)
    func simulatorMatchesClosedForms(schedule: PipelineScheduleKind) {
        for p in [2, 4, 8] {
            for v in schedule == .interleaved ? [2, 3] : [1] {
                for m in [p, 2 * p, 5 * p] {
                    let simulated = SimulatedBubble().bubbleFraction(
                        schedule: schedule, stages: p, microBatches: m, virtualStages: v, costs: Self.uniform)
                    let closed = ClosedFormBubble().bubbleFraction(
                        schedule: schedule, stages: p, microBatches: m, virtualStages: v, costs: Self.uniform)
                    #expect(abs(simulated - closed) < 1e-9, "\(schedule) p\(p) m\(m) v\(v): \(simulated) vs \(closed)")
                }
            }
        }
        #expect(abs(ClosedFormBubble().bubbleFraction(
            schedule: .oneForwardOneBackward, stages: 8, microBatches: 64, virtualStages: 1, costs: Self.uniform)
            - 7.0 / 71) < 1e-12)
    }

    /// With a heavier last chunk every micro-batch costs the last rank its whole work, and the step is at least
    /// that: per-chunk costs reach the simulator (a uniform table at the average cost would be faster).
    @Test(arguments: PipelineScheduleKind.allCases)
    func heavyLastChunkSetsThePace(schedule: PipelineScheduleKind) {
        let p = 4, m = 16
        for v in schedule == .interleaved ? [2] : [1] {
            let chunks = Self.headHeavy(stages: p, virtualStages: v)
            let step = SimulatedBubble().stepTime(
                schedule: schedule, stages: p, microBatches: m, virtualStages: v, chunks: chunks)
            let lastRank = (0..<v).map { chunks[$0 * p + p - 1] }
                .reduce(0) { $0 + $1.forward + $1.backwardInput + $1.backwardWeight }
            #expect(step >= Double(m) * lastRank - 1e-9, "\(schedule) v\(v): \(step) < \(Double(m) * lastRank)")
            let average = chunks.reduce(0) { $0 + $1.forward + $1.backwardInput + $1.backwardWeight } / Double(p * v)
            let flat = SimulatedBubble().stepTime(
                schedule: schedule, stages: p, microBatches: m, virtualStages: v,
                chunks: Array(repeating: StageCosts(forward: average / 3, backwardInput: average / 3,
                                                    backwardWeight: average / 3), count: p * v))
            #expect(step > flat + 1, "\(schedule): the head's extra work must lengthen the step")
        }
    }

    /// The planner's chunk patterns in whole units, the largest chunk totalling 32 (so the cache's rounding to
    /// 1/32 of it is exact): equal chunks; a heavier last chunk (the LM head); and that with a lighter first chunk
    /// (dense layers before MoE ones).
    static func plannerPatterns(stages p: Int, virtualStages v: Int) -> [[StageCosts]] {
        let body = StageCosts(forward: 8, backwardInput: 10, backwardWeight: 6)
        let head = StageCosts(forward: 11, backwardInput: 13, backwardWeight: 8)
        let light = StageCosts(forward: 4, backwardInput: 5, backwardWeight: 3)
        let n = p * v
        return [
            Array(repeating: StageCosts(forward: 10, backwardInput: 13, backwardWeight: 9), count: n),
            (0..<n).map { $0 == n - 1 ? head : body },
            (0..<n).map { $0 == n - 1 ? head : $0 == 0 ? light : body },
        ]
    }

    /// The cache asks the model at m' = min(m, p) (2p with virtual stages) and carries the idle time over to
    /// larger m: for the planner's patterns the result equals simulating the large m directly, for every
    /// schedule, and each distinct (pattern, m') is simulated once.
    @Test(arguments: PipelineScheduleKind.allCases)
    func cacheExtendsSteadyStateExactly(schedule: PipelineScheduleKind) {
        for p in [3, 4, 8] {
            let cached = CachedBubbleModel(SimulatedBubble())
            var questions = Set<[Int]>()
            for v in schedule == .interleaved ? [2, 4] : [1] {
                for (index, chunks) in Self.plannerPatterns(stages: p, virtualStages: v).enumerated() {
                    for m in [1, 2, p, 3 * p, 6 * p, 16 * p] where schedule != .interleaved || m % p == 0 {
                        let direct = SimulatedBubble().stepTime(
                            schedule: schedule, stages: p, microBatches: m, virtualStages: v, chunks: chunks)
                        let viaCache = cached.stepTime(
                            schedule: schedule, stages: p, microBatches: m, virtualStages: v, chunks: chunks)
                        #expect(abs(direct - viaCache) <= 1e-9 * direct,
                                "\(schedule) p\(p) m\(m) v\(v) pattern \(index): \(direct) vs \(viaCache)")
                        questions.insert([v, index, min(m, (v > 1 ? 2 : 1) * p)])
                    }
                }
            }
            #expect(cached.misses == questions.count)
        }
    }

    /// Costs that are not whole units of the pattern's quantum are rounded for the key: the step stays within
    /// 1% of simulating the exact costs.
    @Test(arguments: PipelineScheduleKind.allCases)
    func roundedCostsStayClose(schedule: PipelineScheduleKind) {
        let p = 4
        for v in schedule == .interleaved ? [2] : [1] {
            let chunks = Self.headHeavy(stages: p, virtualStages: v, head: 0.37)
            for m in [2, p, 5 * p] where schedule != .interleaved || m % p == 0 {
                let direct = SimulatedBubble().stepTime(
                    schedule: schedule, stages: p, microBatches: m, virtualStages: v, chunks: chunks)
                let viaCache = CachedBubbleModel(SimulatedBubble()).stepTime(
                    schedule: schedule, stages: p, microBatches: m, virtualStages: v, chunks: chunks)
                #expect(abs(direct - viaCache) <= 0.01 * direct, "\(schedule) m\(m): \(direct) vs \(viaCache)")
            }
        }
    }

    /// Non-vacuity: a wrong bubble (1F1B's, for the interleaved schedule) is far from the simulator's.
    @Test func wrongFormulaIsCaught() {
        let simulated = SimulatedBubble().bubbleFraction(
            schedule: .interleaved, stages: 8, microBatches: 16, virtualStages: 4, costs: Self.uniform)
        let wrong = ClosedFormBubble().bubbleFraction(
            schedule: .oneForwardOneBackward, stages: 8, microBatches: 16, virtualStages: 1, costs: Self.uniform)
        #expect(abs(simulated - wrong) > 0.1)
    }
}
