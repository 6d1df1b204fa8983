import Testing
import TesseraPipeline

@Suite struct SimulatorTests {
    /// (p − 1)/(m + p − 1) for GPipe and 1F1B with uniform costs, whatever F and B (Huang et al. 2019;
    /// Narayanan et al. 2021); exactly, since with uniform costs the simulation is exact arithmetic.
    @Test func gpipeAndOneForwardOneBackwardMatchThePublishedBubble() throws {
        for kind in [PipelineScheduleKind.gpipe, .oneForwardOneBackward] {
            for p in 1...8 {
                for m in 1...32 {
                    let config = try PipelineScheduleConfig(kind: kind, stages: p, microBatches: m)
                    for costs in [PipelineCosts(), PipelineCosts(forward: 1, backwardInput: 1, backwardWeight: 1)] {
                        let simulation = try PipelineSimulator.simulate(schedule: PipelineSchedule(config), costs: costs)
                        let formula = Double(p - 1) / Double(m + p - 1)
                        #expect(abs(simulation.bubbleFraction - formula) < 1e-12, "\(config) \(costs)")
                        #expect(config.publishedBubbleFraction(costs: costs) == formula)
                        // Both cost sets give a whole backward of 2 after a forward of 1.
                        #expect(abs(simulation.stepTime - Double(m + p - 1) * 3) < 1e-9)
                    }
                }
            }
        }
    }

    /// Interleaving with v chunks per rank (each 1/v of the work) divides the bubble time by v
    /// (Narayanan et al. 2021, §2.2): (p − 1)/(v·m + p − 1), about 1/v of 1F1B's fraction.
    @Test func interleavedShrinksTheBubbleByTheNumberOfChunks() throws {
        for p in 2...8 {
            for m in stride(from: p, through: 32, by: p) {
                let plain = try PipelineSimulator.simulate(schedule: PipelineSchedule(.oneForwardOneBackward, stages: p, microBatches: m))
                for v in 1...3 {
                    let config = try PipelineScheduleConfig(kind: .interleaved, stages: p, microBatches: m, virtualStages: v)
                    let costs = PipelineCosts(forward: 1 / Double(v), backwardInput: 2 / Double(v))
                    let simulation = try PipelineSimulator.simulate(schedule: PipelineSchedule(config), costs: costs)
                    let formula = Double(p - 1) / Double(v * m + p - 1)
                    #expect(abs(simulation.bubbleFraction - formula) < 1e-9, "\(config)")
                    // Same work per rank, bubble time divided by v.
                    let bubbleTime = simulation.stepTime - Double(m) * 3
                    #expect(abs(bubbleTime - Double(p - 1) * 3 / Double(v)) < 1e-9, "\(config)")
                    // As a fraction of the (shorter) step: between 1/v and (m + p − 1)/(v·m) of 1F1B's.
                    let ratio = simulation.bubbleFraction / plain.bubbleFraction
                    #expect(ratio >= 1 / Double(v) - 1e-12 && ratio <= Double(m + p - 1) / Double(v * m) + 1e-12)
                }
            }
        }
    }

    /// ZB-H1: every rank idles (p − 1)(F + B − W) (Qi et al. 2023, §3.1) when m ≥ p and W ≤ F, B;
    /// with F = B = W that is a third of 1F1B's (p − 1)(F + B + W).
    @Test func zeroBubbleH1MatchesItsPublishedBubble() throws {
        for p in 2...8 {
            for m in Set([p, p + 1, 2 * p + 1, 32]).sorted() {
                let schedule = try PipelineSchedule(.zeroBubbleH1, stages: p, microBatches: m)
                for (f, b, w) in [(1.0, 1.0, 1.0), (1.0, 1.5, 0.5), (1.5, 1.0, 0.75), (2.0, 2.0, 1.0)] {
                    let costs = PipelineCosts(forward: f, backwardInput: b, backwardWeight: w)
                    let simulation = try PipelineSimulator.simulate(schedule: schedule, costs: costs)
                    let idle = Double(p - 1) * (f + b - w)
                    for rankIdle in simulation.metrics.idleTime { #expect(abs(rankIdle - idle) < 1e-9, "p=\(p) m=\(m)") }
                    let config = try PipelineScheduleConfig(kind: .zeroBubbleH1, stages: p, microBatches: m)
                    #expect(abs(config.publishedBubbleFraction(costs: costs)! - simulation.bubbleFraction) < 1e-12)
                }
                let uniform = PipelineCosts(forward: 1, backwardInput: 1, backwardWeight: 1)
                let zb = try PipelineSimulator.simulate(schedule: schedule, costs: uniform)
                let plain = try PipelineSimulator.simulate(schedule: PipelineSchedule(.oneForwardOneBackward, stages: p, microBatches: m), costs: uniform)
                #expect(abs(3 * zb.metrics.idleTime[0] - plain.metrics.idleTime[0]) < 1e-9)
            }
        }
        // Outside its regime the formula is not claimed.
        let slowWeights = try PipelineScheduleConfig(kind: .zeroBubbleH1, stages: 4, microBatches: 8)
        #expect(slowWeights.publishedBubbleFraction(costs: PipelineCosts(forward: 1, backwardInput: 1, backwardWeight: 2)) == nil)
    }

    /// Non-vacuity: a valid schedule that breaks 1F1B's warm-up rule (rank 0 delays its last warm-up forward
    /// until after its first backward) passes the checker but misses the published bubble.
    @Test func aWorseOrderMissesThePublishedBubble() throws {
        var schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 4, microBatches: 8)
        let forward = schedule.actions[0].firstIndex(of: .forward(microBatch: 3, chunk: 0))!
        let moved = Array(schedule.actions[0][forward...(forward + 1)])  // the forward and its send
        schedule.actions[0].removeSubrange(forward...(forward + 1))
        let backward = schedule.actions[0].firstIndex(of: .backward(microBatch: 0, chunk: 0))!
        schedule.actions[0].insert(contentsOf: moved, at: backward + 1)
        #expect(schedule.violations.isEmpty)
        let simulation = try PipelineSimulator.simulate(schedule: schedule)
        #expect(simulation.bubbleFraction > 3.0 / 11 + 0.01)
    }

    /// 1F1B holds at most p micro-batches on the first stage, GPipe all m.
    @Test func peakActivationsOnTheFirstStage() throws {
        for p in 1...8 {
            for m in 1...32 {
                let gpipe = try PipelineSimulator.simulate(schedule: PipelineSchedule(.gpipe, stages: p, microBatches: m))
                let oneF = try PipelineSimulator.simulate(schedule: PipelineSchedule(.oneForwardOneBackward, stages: p, microBatches: m))
                #expect(gpipe.peakActivations == Array(repeating: m, count: p))
                #expect(oneF.peakActivations == (0..<p).map { min(p - $0, m) })
                #expect(oneF.peakActivations == oneF.schedule.peakActivations)
            }
        }
    }

    /// p = 2, m = 1, F = 1, B = 2, transfer T = 0.5, worked by hand: F on rank 0 [0, 1], the activation
    /// arrives at 1.5, rank 1 runs F [1.5, 2.5] and B [2.5, 4.5], the gradient arrives at 5, rank 0 runs B [5, 7].
    @Test func transferTimeDelaysTheReceiver() throws {
        let simulation = try PipelineSimulator.simulate(schedule: PipelineSchedule(.gpipe, stages: 2, microBatches: 1),
                                                        costs: PipelineCosts(forward: 1, backwardInput: 2, transfer: 0.5))
        let compute = simulation.timeline.spans.filter { $0.kind != .communication }
            .map { "\($0.rank):\($0.label) \($0.start)-\($0.end)" }
        #expect(Set(compute) == ["0:F0 0.0-1.0", "1:F0 1.5-2.5", "1:B0 2.5-4.5", "0:B0 5.0-7.0"])
        #expect(simulation.stepTime == 7)
        #expect(simulation.metrics.idleTime == [4, 4])
        let waits = simulation.timeline.spans.filter { $0.kind == .communication }.map { "\($0.rank) \($0.start)-\($0.end)" }
        #expect(Set(waits) == ["1 0.0-1.5", "0 1.0-5.0"])
    }

    /// Per-model-chunk costs: GPipe, p = 2, m = 1, F = [1, 3], B = [2, 5] takes 1 + 3 + 5 + 2.
    @Test func perStageCostsAreIndexedByModelChunk() throws {
        let schedule = try PipelineSchedule(.gpipe, stages: 2, microBatches: 1)
        let costs = PipelineCosts(forward: [1, 3], backwardInput: [2, 5])
        #expect(try PipelineSimulator.simulate(schedule: schedule, costs: costs).stepTime == 11)
        // Without W a split schedule runs B/2 + B/2; with W a whole backward runs B + W.
        let split = try PipelineSchedule(.zeroBubbleH1, stages: 1, microBatches: 1)
        #expect(try PipelineSimulator.simulate(schedule: split, costs: PipelineCosts(forward: 1, backwardInput: 2)).stepTime == 3)
        let whole = try PipelineSchedule(.oneForwardOneBackward, stages: 1, microBatches: 1)
        #expect(try PipelineSimulator.simulate(schedule: whole, costs: PipelineCosts(forward: 1, backwardInput: 2, backwardWeight: 1)).stepTime == 4)
    }

    @Test func invalidCostsAndDeadlockedSchedulesThrow() throws {
        let schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 4, microBatches: 4)
        #expect(throws: PipelineError.self) {
            try PipelineSimulator.simulate(schedule: schedule, costs: PipelineCosts(forward: [1, 2, 3], backwardInput: [1]))
        }
        #expect(throws: PipelineError.invalidCosts(reason: "forward time -1.0 must be a finite number ≥ 0")) {
            try PipelineSimulator.simulate(schedule: schedule, costs: PipelineCosts(forward: -1))
        }
        var stuck = schedule
        stuck.actions[0].removeAll { if case .send = $0 { return true }; return false }
        #expect(throws: PipelineError.self) { try PipelineSimulator.simulate(schedule: stuck) }
    }
}
