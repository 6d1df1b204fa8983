import Testing
import TesseraPipeline
import TesseraPlanner

@Suite struct PipelineBubbleTests {
    static let uniform = StageCosts(forward: 1, backwardInput: 1, backwardWeight: 1)

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
        #expect(ClosedFormBubble().bubbleFraction(
            schedule: .oneForwardOneBackward, stages: 8, microBatches: 64, virtualStages: 1, costs: Self.uniform)
            == 7.0 / 71)
    }

    /// The cache asks the model at m' = min(m, p) and carries the idle time over to larger m: the result equals
    /// simulating the large m directly, for every schedule (ZB-H1 with an uneven F/B/W split too).
    @Test(arguments: PipelineScheduleKind.allCases)
    func cacheExtendsSteadyStateExactly(schedule: PipelineScheduleKind) {
        let split = StageCosts(forward: 1, backwardInput: 1.25, backwardWeight: 0.75)
        for p in [3, 4, 8] {
            let cached = CachedBubbleModel(SimulatedBubble())
            for v in schedule == .interleaved ? [2, 4] : [1] {
                for m in [1, 2, p, 3 * p, 6 * p] where schedule != .interleaved || m % p == 0 {
                    let direct = SimulatedBubble().bubbleFraction(
                        schedule: schedule, stages: p, microBatches: m, virtualStages: v, costs: split)
                    let viaCache = cached.bubbleFraction(
                        schedule: schedule, stages: p, microBatches: m, virtualStages: v, costs: split)
                    #expect(abs(direct - viaCache) < 1e-3, "\(schedule) p\(p) m\(m) v\(v): \(direct) vs \(viaCache)")
                }
            }
            #expect(cached.misses <= 6)
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
