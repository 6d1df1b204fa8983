import Foundation
import Testing
import TesseraPipeline

/// Buffered sends and blocking receives between rank threads, as the executor's semantics say.
private final class Mailbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var posted: Set<PipelineTransfer> = []

    func send(_ transfer: PipelineTransfer) {
        condition.withLock { posted.insert(transfer) }
        condition.broadcast()
    }

    func receive(_ transfer: PipelineTransfer) {
        condition.lock()
        while !posted.contains(transfer) { condition.wait() }
        condition.unlock()
    }
}

/// Runs `schedule` on one thread per rank, each compute action sleeping for its cost in milliseconds,
/// and records every action with `recorder`.
private func runWithSleeps(_ schedule: PipelineSchedule, costs: PipelineCosts, recorder: PipelineTraceRecorder, step: Int) {
    let mailbox = Mailbox()
    let done = DispatchGroup()
    for rank in 0..<schedule.stages {
        done.enter()
        Thread {
            for action in schedule.actions[rank] {
                recorder.measure(action, rank: rank, step: step) {
                    switch action {
                    case let .send(transfer): mailbox.send(transfer)
                    case let .receive(transfer): mailbox.receive(transfer)
                    default:
                        let (kind, _, chunk) = action.compute!
                        let modelChunk = schedule.modelChunk(at: PipelineLocation(rank: rank, chunk: chunk))
                        Thread.sleep(forTimeInterval: costs.duration(of: kind, modelChunk: modelChunk, in: schedule) / 1000)
                    }
                }
            }
            done.leave()
        }.start()
    }
    done.wait()
}

@Suite(.serialized) struct RecorderTests {
    /// A real threaded run whose compute is sleeping, recorded and read back: the spans follow the schedule,
    /// the activations peak as it says, and the measured bubble lands near the simulator's prediction for
    /// the per-action times measured in the same trace. Wake-up latency on a loaded 2-core machine counts
    /// as idle in the run but not in the simulation, hence the loose bound; this checks the plumbing, the
    /// executor's benchmark checks the accuracy.
    @Test func measuredBubbleOfARealRunMatchesTheSimulation() throws {
        let schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 4)
        let recorder = PipelineTraceRecorder()
        runWithSleeps(schedule, costs: PipelineCosts(forward: 5, backwardInput: 10), recorder: recorder, step: 3)
        let path = try temporaryPath("run.trace.json")
        try recorder.trace.write(to: path)
        let trace = try PipelineTrace(contentsOf: path)
        #expect(trace.steps == [3])
        let timeline = try trace.timeline(title: "run", step: 3)
        for rank in 0..<2 {
            let compute = timeline.spans.filter { $0.rank == rank && $0.kind.compute != nil }.sorted { $0.start < $1.start }
            #expect(compute.map(\.label) == computeLabels(schedule, rank: rank))
            for (earlier, later) in zip(compute, compute.dropFirst()) { #expect(earlier.end <= later.start + 1e-6) }
        }
        let measured = timeline.metrics
        #expect(measured.peakActivations == [2, 1])
        let costs = PipelineCosts(measuredFrom: timeline)
        #expect(costs.forward.allSatisfy { $0 >= 5 } && costs.backwardInput.allSatisfy { $0 >= 10 })
        let predicted = try timeline.simulatedCounterpart(kind: .oneForwardOneBackward)
        #expect(predicted.schedule == schedule)
        #expect(abs(measured.bubbleFraction - predicted.bubbleFraction) < 0.1,
                "measured \(measured.bubbleFraction), simulated \(predicted.bubbleFraction)")
    }

    @Test func concurrentRecordingKeepsEverySpan() {
        let recorder = PipelineTraceRecorder()
        DispatchQueue.concurrentPerform(iterations: 8) { rank in
            for microBatch in 0..<100 {
                let span = recorder.begin(.forward, rank: rank, name: "F\(microBatch)", microBatch: microBatch)
                recorder.end(span)
            }
        }
        let events = recorder.trace.events
        #expect(events.filter(\.isSpan).count == 800)
        #expect(events.filter { $0.phase == "M" }.map(\.process) == Array(0..<8))
        #expect(events.filter(\.isSpan).allSatisfy { $0.duration! >= 0 && $0.timestamp! >= 0 })
        let communication = recorder.begin(.send(PipelineTransfer(
            kind: .activation, microBatch: 0, source: PipelineLocation(rank: 0, chunk: 1),
            destination: PipelineLocation(rank: 1, chunk: 1))), rank: 0)
        #expect(communication.kind == .communication && communication.chunk == 1)
    }
}
