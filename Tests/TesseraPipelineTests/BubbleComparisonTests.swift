import Testing
import TesseraPipeline

/// The step-by-step comparison of a trace's bubble with the simulator's: on a step worked out by hand, on
/// traces of simulations (which every schedule must match exactly), and on wrong traces that must be caught.
struct BubbleComparisonTests {
    /// One step of 1F1B on 2 stages with 2 micro-batches, as a run records it (one span per action, then the
    /// reduction and optimizer), worked out by hand: F = 10 ms, B = 20 ms, each send occupies its rank 1 ms,
    /// each hand-off (send start to the waiting receive's end) takes 3 ms; rank 1's receive of a1 finds its
    /// data in place. With `stall`, rank 0's receive of g1 ends that much later than the hand-off explains.
    ///
    ///     rank 0: F0 0–10, send a0 10–11, F1 11–21, send a1 21–22, recv g0 22–46, B0 46–66, recv g1 66–77, B1 77–97
    ///     rank 1: recv a0 0–13, F0 13–23, B0 23–43, send g0 43–44, recv a1 44–44, F1 44–54, B1 54–74, send g1 74–75
    ///
    /// The step lasts 97 ms with 60 ms of compute per rank: bubble 2·37 / (2·97) = 74/194.
    private func handWorkedStep(_ step: Int, stall: Double = 0) -> [PipelineTraceEvent] {
        let origin = Double(step) * 1000
        func span(_ rank: Int, _ label: String, _ kind: PipelineSpanKind, _ start: Double, _ end: Double,
                  _ microBatch: Int? = nil) -> PipelineTraceEvent {
            PipelineTraceEvent(name: label, category: kind.rawValue, timestamp: (origin + start) * 1000,
                               duration: (end - start) * 1000, process: rank, thread: kind == .communication ? 1 : 0,
                               arguments: PipelineTraceArguments(microBatch: microBatch, chunk: microBatch.map { _ in 0 }, step: step))
        }
        let s = stall
        return [
            span(0, "F0", .forward, 0, 10, 0), span(0, "send a0", .communication, 10, 11, 0),
            span(0, "F1", .forward, 11, 21, 1), span(0, "send a1", .communication, 21, 22, 1),
            span(0, "recv g0", .communication, 22, 46, 0), span(0, "B0", .backward, 46, 66, 0),
            span(0, "recv g1", .communication, 66, 77 + s, 1), span(0, "B1", .backward, 77 + s, 97 + s, 1),
            span(0, "dp reduce", .communication, 97 + s, 99 + s), span(0, "optimizer", .other, 99 + s, 104 + s),
            span(1, "recv a0", .communication, 0, 13, 0), span(1, "F0", .forward, 13, 23, 0),
            span(1, "B0", .backward, 23, 43, 0), span(1, "send g0", .communication, 43, 44, 0),
            span(1, "recv a1", .communication, 44, 44, 1), span(1, "F1", .forward, 44, 54, 1),
            span(1, "B1", .backward, 54, 74, 1), span(1, "send g1", .communication, 74, 75, 1),
            span(1, "dp reduce", .communication, 75, 99 + s), span(1, "optimizer", .other, 99 + s, 104 + s),
        ]
    }

    /// Every input is recovered from the hand-worked trace, and the simulator given them predicts the
    /// measured bubble exactly; the free-transfer formula model (what the comparison used to be given)
    /// misses it by 14 %, more than the 10 % target.
    @Test func aHandWorkedStepMatchesItsKnownAnswer() throws {
        let trace = PipelineTrace(events: (1...2).flatMap { handWorkedStep($0) })
        let timeline = try trace.timeline(title: "hand-worked", step: 2)
        #expect(abs(timeline.metrics.bubbleFraction - 74.0 / 194) < 1e-9)
        #expect(abs(timeline.metrics.stepTime - 97) < 1e-9)

        let measured = try timeline.measuredStep(kind: .oneForwardOneBackward)
        #expect(measured.handOffs.count == 3 && measured.handOffs.allSatisfy { abs($0 - 3) < 1e-9 })
        #expect(abs(measured.transferTime - 3) < 1e-9)
        let times = measured.actionTimes
        let busy: [[Double]] = [[10, 1, 10, 1, 0, 20, 0, 20], [0, 10, 20, 1, 0, 10, 20, 1]]
        for (measuredRank, expectedRank) in zip(times.busy + times.dispatch, busy + busy.map { $0.map { _ in 0 } }) {
            #expect(zip(measuredRank, expectedRank).allSatisfy { abs($0 - $1) < 1e-9 }, "\(measuredRank)")
        }

        let comparison = try trace.bubbleComparison(kind: .oneForwardOneBackward)
        let compared = try #require(comparison.steps.first)
        #expect(comparison.steps.count == 1 && compared.step == 2 && comparison.warmUpSteps == [1])
        #expect(abs(compared.simulated.bubbleFraction - 74.0 / 194) < 1e-9 && compared.relativeBubbleDifference < 1e-9)
        #expect(abs(compared.simulated.stepTime - 97) < 1e-9)
        // Uniform per-rank times: the per-kind means are the times themselves.
        #expect(compared.relativeBubbleDifferenceFromMeans < 1e-9)
        #expect(compared.transferTime == measured.transferTime && compared.handOffs == 3)

        let freeTransfers = try PipelineSimulator.simulate(schedule: measured.schedule,
                                                           costs: PipelineCosts(forward: 10, backwardInput: 20))
        #expect(abs(freeTransfers.bubbleFraction - 1.0 / 3) < 1e-12)
        #expect(compared.measured.bubbleFraction / freeTransfers.bubbleFraction - 1 > 0.14)
    }

    /// Deliberately wrong: a receive that ends 10 ms after its hand-off should have brought the data. The
    /// median hand-off stays 3 ms, so the prediction (74/194) misses the measured bubble (94/214) by 15 %;
    /// one such step among clean ones does not move the median, a majority does.
    @Test func aStallTheMeasuredTimesDoNotExplainIsCaught() throws {
        let stalled = PipelineTrace(events: handWorkedStep(1, stall: 10))
        let compared = try #require(try stalled.bubbleComparison(kind: .oneForwardOneBackward).steps.first)
        #expect(abs(compared.measured.bubbleFraction - 94.0 / 214) < 1e-9)
        #expect(abs(compared.simulated.bubbleFraction - 74.0 / 194) < 1e-9)
        #expect(compared.relativeBubbleDifference > 0.15 && compared.relativeBubbleDifferenceFromMeans > 0.15)

        // Steps 1 (warm-up) and 4 stalled; steps 2, 3, 5, 6 clean.
        let mostlyClean = PipelineTrace(events: (1...6).flatMap { handWorkedStep($0, stall: [1, 4].contains($0) ? 10 : 0) })
        let comparison = try mostlyClean.bubbleComparison(kind: .oneForwardOneBackward)
        #expect(comparison.steps.map(\.step) == [2, 3, 4, 5, 6])
        #expect(comparison.steps.map { $0.relativeBubbleDifference > 0.15 } == [false, false, true, false, false])
        #expect(comparison.medianRelativeBubbleDifference < 1e-9)
        #expect(comparison.medianMeasuredStepTime == comparison.medianSimulatedStepTime)
        let table = comparison.table()
        #expect(table.split(separator: "\n").count == 1 + 5 + 1 && table.contains("median") && table.contains("3 ms (3)"))

        let mostlyStalled = PipelineTrace(events: (1...4).flatMap { handWorkedStep($0, stall: [2, 3].contains($0) ? 10 : 0) })
        #expect(try mostlyStalled.bubbleComparison(kind: .oneForwardOneBackward).medianRelativeBubbleDifference > 0.15)
    }

    /// A trace of `schedule` simulated with `times`, one step every 10 s.
    private func trace(_ schedule: PipelineSchedule, times: PipelineActionTimes, steps: ClosedRange<Int>) throws -> PipelineTrace {
        let timeline = try PipelineSimulator.simulate(schedule: schedule, actionTimes: times)
        return PipelineTrace(events: steps.flatMap { step in
            PipelineTrace(timeline).events.map { event in
                var event = event
                event.timestamp = event.timestamp.map { $0 + Double(step) * 10_000_000 }
                if event.isSpan { event.arguments?.step = step }
                return event
            }
        })
    }

    /// Uneven times: every action its own busy time (sends included) and dispatch gap, rank 1 starting late.
    private func unevenTimes(_ schedule: PipelineSchedule, transfer: Double) -> PipelineActionTimes {
        let busy = schedule.actions.enumerated().map { rank, actions in
            actions.enumerated().map { index, action -> Double in
                let spread = Double((rank * 7 + index * 13) % 11)
                if action.compute != nil { return 10 + spread }
                if case .send = action { return spread / 10 }
                return 0
            }
        }
        let dispatch = busy.enumerated().map { rank, times in
            times.indices.map { index in index == 0 ? Double(rank) * 2 : Double((rank + index) % 3) / 100 }
        }
        return PipelineActionTimes(dispatch: dispatch, busy: busy, transfer: transfer)
    }

    /// Every schedule, interleaved included, matches its own simulation exactly when its trace is that
    /// simulation, and every input is recovered from the trace; a trace of one step or without step
    /// numbers is compared as that one step, with no warm-up left out.
    @Test(arguments: [(PipelineScheduleKind.gpipe, 1), (.oneForwardOneBackward, 1), (.interleaved, 2), (.zeroBubbleH1, 1)])
    func everyScheduleMatchesItsOwnSimulation(kind: PipelineScheduleKind, virtualStages: Int) throws {
        let schedule = try PipelineSchedule(kind, stages: 2, microBatches: 4, virtualStages: virtualStages)
        let times = unevenTimes(schedule, transfer: 1.5)
        for steps in [1...3, 5...5] {
            let comparison = try trace(schedule, times: times, steps: steps).bubbleComparison(kind: kind, virtualStages: virtualStages)
            #expect(comparison.steps.map(\.step) == (steps.count == 1 ? [5] : [2, 3]))
            #expect(comparison.warmUpSteps == (steps.count == 1 ? [] : [1]))
            #expect(comparison.medianRelativeBubbleDifference < 1e-9, "\(kind)")
            #expect(abs(comparison.medianTransferTime - 1.5) < 1e-9)
        }
        let stepless = PipelineTrace(try PipelineSimulator.simulate(schedule: schedule, actionTimes: times))
        let comparison = try stepless.bubbleComparison(kind: kind, virtualStages: virtualStages)
        #expect(comparison.steps.map(\.step) == [nil] && comparison.warmUpSteps.isEmpty)
        #expect(comparison.medianRelativeBubbleDifference < 1e-9)

        let measured = try stepless.timeline(title: "t").measuredStep(kind: kind, virtualStages: virtualStages).actionTimes
        for (recovered, given) in zip(measured.busy + measured.dispatch, times.busy + times.dispatch) {
            #expect(zip(recovered, given).allSatisfy { abs($0 - $1) < 1e-6 }, "\(kind)")
        }
    }

    /// The per-kind means differ from each action's own times exactly by the spread the times have: with
    /// the uneven times the means predict another bubble, with even times the same one.
    @Test func meansAverageEachKindOfActionPerRankAndChunk() throws {
        let schedule = try PipelineSchedule(.interleaved, stages: 2, microBatches: 4, virtualStages: 2)
        let measured = try PipelineMeasuredStep(try PipelineSimulator.simulate(schedule: schedule, actionTimes: unevenTimes(schedule, transfer: 1)),
                                                schedule: schedule)
        let means = measured.meanActionTimes
        for (rank, actions) in schedule.actions.enumerated() {
            for chunk in 0..<2 {
                let forwards = actions.indices.filter { actions[$0].compute.map { $0.kind == .forward && $0.chunk == chunk } ?? false }
                let mean = forwards.reduce(0) { $0 + measured.actionTimes.busy[rank][$1] } / Double(forwards.count)
                #expect(forwards.count == 4 && forwards.allSatisfy { abs(means.busy[rank][$0] - mean) < 1e-9 })
            }
            #expect(means.dispatch[rank][0] == measured.actionTimes.dispatch[rank][0])
        }
        #expect(means.transfer == measured.actionTimes.transfer && means.busy != measured.actionTimes.busy)

        let even = PipelineActionTimes(PipelineCosts(forward: 3, backwardInput: 5, transfer: 1), schedule: schedule)
        let evenStep = try PipelineMeasuredStep(try PipelineSimulator.simulate(schedule: schedule, actionTimes: even), schedule: schedule)
        let fromMeans = try PipelineSimulator.simulate(schedule: schedule, actionTimes: evenStep.meanActionTimes)
        let published = try PipelineSimulator.simulate(schedule: schedule, costs: PipelineCosts(forward: 3, backwardInput: 5, transfer: 1))
        #expect(abs(fromMeans.metrics.bubbleFraction - published.bubbleFraction) < 1e-9)
    }

    /// A run compared with a schedule it did not run is a typed error naming the rank and the action: the
    /// same actions in another order (GPipe for 1F1B), a split backward (ZB-H1), missing chunks
    /// (interleaved), a missing span, a duplicated one.
    @Test func aTraceThatDoesNotFollowTheScheduleIsATypedError() throws {
        let schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 4)
        let recorded = try trace(schedule, times: unevenTimes(schedule, transfer: 1), steps: 1...2)
        #expect(try recorded.bubbleComparison(kind: .oneForwardOneBackward).medianRelativeBubbleDifference < 1e-9)
        func reason(_ trace: PipelineTrace, _ kind: PipelineScheduleKind, virtualStages: Int = 1) -> String? {
            do {
                _ = try trace.bubbleComparison(kind: kind, virtualStages: virtualStages, path: "run.json")
                return nil
            } catch let PipelineError.invalidTrace(path, reason) {
                return path == "run.json" ? reason : nil
            } catch { return nil }
        }
        #expect(reason(recorded, .gpipe)?.contains("rank 0 started recv g0 before send a3 ended, but the schedule runs send a3 first") == true)
        #expect(reason(recorded, .zeroBubbleH1)?.contains("ran B0, which is not one of its actions") == true)
        #expect(reason(recorded, .interleaved, virtualStages: 2)?.contains("rank 0 has no span for recv a0") == true)

        let withoutSend = PipelineTrace(events: recorded.events.filter { $0.name != "send g2" })
        #expect(reason(withoutSend, .oneForwardOneBackward)?.contains("rank 1 has no span for send g2") == true)
        let doubled = PipelineTrace(events: recorded.events + recorded.events.filter { $0.name == "F3" && $0.process == 1 })
        #expect(reason(doubled, .oneForwardOneBackward)?.contains("rank 1 has two spans for F3") == true)
        #expect(reason(doubled, .oneForwardOneBackward)?.contains("was the run's schedule 1F1B with 4 micro-batches") == true)

        // A schedule that breaks its invariants (an action twice) is rejected before any matching.
        var broken = schedule
        broken.actions[0].append(broken.actions[0][0])
        #expect(throws: PipelineError.self) { try PipelineMeasuredStep(try recorded.timeline(title: "t", step: 2), schedule: broken) }

        // 3 micro-batches cannot be interleaved over 2 stages.
        let three = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 3)
        let short = try trace(three, times: PipelineActionTimes(PipelineCosts(), schedule: three), steps: 1...2)
        #expect(throws: PipelineError.self) { try short.bubbleComparison(kind: .interleaved, virtualStages: 2) }
    }

    /// The detailed input is checked like the cost tables.
    @Test func actionTimesThatDoNotFitTheScheduleAreATypedError() throws {
        let schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 2)
        var times = PipelineActionTimes(PipelineCosts(), schedule: schedule)
        times.busy[1].removeLast()
        #expect(throws: PipelineError.self) { try PipelineSimulator.simulate(schedule: schedule, actionTimes: times) }
        times = PipelineActionTimes(PipelineCosts(), schedule: schedule)
        times.dispatch[0][0] = -1
        #expect(throws: PipelineError.self) { try PipelineSimulator.simulate(schedule: schedule, actionTimes: times) }
        times = PipelineActionTimes(PipelineCosts(), schedule: schedule)
        times.transfer = .nan
        #expect(throws: PipelineError.self) { try PipelineSimulator.simulate(schedule: schedule, actionTimes: times) }
    }
}
