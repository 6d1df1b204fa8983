import Testing
import TesseraPipeline

/// The step-by-step comparison of a trace's bubble with the simulator's, on traces built from simulations
/// (so a clean step matches its simulation exactly) with some steps made noisy by hand.
struct BubbleComparisonTests {
    /// A trace of `steps` steps of `schedule` timed with `costs`, one simulation per step laid 10 s apart;
    /// in each step of `noisy`, rank 0's last compute span starts (and ends) `delay` ms late, as a stalled
    /// core would make it: the per-action times stay the same, only the measured bubble grows.
    private func trace(_ schedule: PipelineSchedule, costs: PipelineCosts, steps: ClosedRange<Int>,
                       noisy: Set<Int> = [], delay: Double = 100) throws -> PipelineTrace {
        let simulation = try PipelineSimulator.simulate(schedule: schedule, costs: costs)
        let last = simulation.timeline.spans.indices.filter {
            simulation.timeline.spans[$0].rank == 0 && simulation.timeline.spans[$0].kind.compute != nil
        }.max { simulation.timeline.spans[$0].end < simulation.timeline.spans[$1].end }!
        let events = steps.flatMap { step in
            var timeline = simulation.timeline
            for index in timeline.spans.indices {
                let late = noisy.contains(step) && index == last ? delay : 0
                timeline.spans[index].start += Double(step) * 10_000 + late
                timeline.spans[index].end += Double(step) * 10_000 + late
            }
            return PipelineTrace(timeline).events.map { event in
                var event = event
                if event.isSpan { event.arguments?.step = step }
                return event
            }
        }
        return PipelineTrace(events: events)
    }

    @Test func everyStepAfterTheFirstIsComparedAndOneNoisyStepDoesNotDecideTheMedian() throws {
        let schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 4)
        let costs = PipelineCosts(forward: [10, 12], backwardInput: [20, 22])
        let simulated = try PipelineSimulator.simulate(schedule: schedule, costs: costs).bubbleFraction
        // Step 1 (warm-up) and step 4 are noisy; steps 2, 3, 5, 6 are clean.
        let comparison = try trace(schedule, costs: costs, steps: 1...6, noisy: [1, 4])
            .bubbleComparison(kind: .oneForwardOneBackward)
        #expect(comparison.warmUpSteps == [1])
        #expect(comparison.steps.map(\.step) == [2, 3, 4, 5, 6])
        for compared in comparison.steps {
            #expect(abs(compared.simulated.bubbleFraction - simulated) < 1e-9)
            #expect(compared.relativeBubbleDifference < 1e-9 || compared.step == 4)
        }
        // Not vacuous: the noisy step alone would fail the 10 % target by far.
        #expect(comparison.steps[2].relativeBubbleDifference > 0.5)
        #expect(comparison.medianRelativeBubbleDifference < 1e-9)
        #expect(abs(comparison.medianMeasuredBubble - simulated) < 1e-9)
        #expect(comparison.medianMeasuredStepTime == comparison.medianSimulatedStepTime)
        let table = comparison.table()
        #expect(table.split(separator: "\n").count == 1 + 5 + 1 && table.contains("median"))

        // A majority of noisy steps does move the median: the median is not the best step.
        let mostlyNoisy = try trace(schedule, costs: costs, steps: 1...4, noisy: [2, 3])
            .bubbleComparison(kind: .oneForwardOneBackward)
        #expect(mostlyNoisy.medianRelativeBubbleDifference > 0.5)
    }

    /// The comparison catches a wrong schedule: ZB-H1's prediction for 1F1B's per-action times misses the
    /// measured bubble of every step by far more than the 10 % target.
    @Test func aWrongScheduleIsCaught() throws {
        let schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 4)
        let recorded = try trace(schedule, costs: PipelineCosts(forward: 20, backwardInput: 40), steps: 1...4)
        #expect(try recorded.bubbleComparison(kind: .oneForwardOneBackward).medianRelativeBubbleDifference < 1e-9)
        let wrong = try recorded.bubbleComparison(kind: .zeroBubbleH1)
        #expect(wrong.steps.allSatisfy { $0.relativeBubbleDifference > 0.5 })
    }

    /// Every schedule, interleaved included, matches its own simulation on a clean trace; a trace of one step
    /// or without step numbers is compared as that one step, with no warm-up left out.
    @Test(arguments: [(PipelineScheduleKind.gpipe, 1), (.oneForwardOneBackward, 1), (.interleaved, 2), (.zeroBubbleH1, 1)])
    func everyScheduleMatchesItsOwnSimulation(kind: PipelineScheduleKind, virtualStages: Int) throws {
        let schedule = try PipelineSchedule(kind, stages: 2, microBatches: 4, virtualStages: virtualStages)
        let costs = PipelineCosts(forward: 10, backwardInput: 15, backwardWeight: kind == .zeroBubbleH1 ? 5 : nil)
        for steps in [1...3, 5...5] {
            let comparison = try trace(schedule, costs: costs, steps: steps)
                .bubbleComparison(kind: kind, virtualStages: virtualStages)
            #expect(comparison.steps.map(\.step) == (steps.count == 1 ? [5] : [2, 3]))
            #expect(comparison.warmUpSteps == (steps.count == 1 ? [] : [1]))
            #expect(comparison.medianRelativeBubbleDifference < 1e-9, "\(kind)")
        }
        let stepless = PipelineTrace(try PipelineSimulator.simulate(schedule: schedule, costs: costs).timeline)
        let comparison = try stepless.bubbleComparison(kind: kind, virtualStages: virtualStages)
        #expect(comparison.steps.map(\.step) == [nil] && comparison.warmUpSteps.isEmpty)
        #expect(comparison.medianRelativeBubbleDifference < 1e-9)
    }

    @Test func aStepThatDoesNotFitTheScheduleIsATypedError() throws {
        // 3 micro-batches cannot be interleaved over 2 stages.
        let schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 3)
        let recorded = try trace(schedule, costs: PipelineCosts(), steps: 1...2)
        #expect(throws: PipelineError.self) { try recorded.bubbleComparison(kind: .interleaved, virtualStages: 2) }
    }
}
