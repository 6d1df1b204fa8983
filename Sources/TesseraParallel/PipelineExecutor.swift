import TesseraCollectives
import TesseraNN
import TesseraPipeline

/// What one pipeline step did on one rank.
public struct PipelineStepReport: Sendable, Hashable {
    /// The most (micro-batch, chunk) states forwarded and not yet backward-completed at once (as
    /// ``PipelineSimulation/peakActivations`` counts them).
    public var peakInFlight: Int
    /// The most activation bytes those states held at once.
    public var peakActivationBytes: Int
    /// Seconds spent in forward, backward and weight-gradient work.
    public var computeSeconds: Double
    /// Seconds spent waiting for activations and gradients from other stages.
    public var waitSeconds: Double
    /// Bytes this rank sent to other stages.
    public var sentBytes: Int
}

/// Runs any ``PipelineSchedule`` on one pipeline rank: it walks the rank's action list and does exactly
/// what each action says, with non-blocking point-to-point transfers.
///
/// - A `send` posts a non-blocking send of the output its producer left (the activation after a forward,
///   the input gradient after a backward) and never waits; the buffer stays with the micro-batch's state,
///   which is released only once the send has completed.
/// - A `receive` waits for its data. Before each compute action the executor posts the next receive of the
///   list, so the data of the next action arrives while this one computes.
/// - Backward passes accumulate weight gradients over the micro-batches; a split backward (`backwardInput`
///   then `backwardWeight`) runs the input gradient first and the deferred weight gradients later. The
///   action after which a chunk's gradients are final is flagged to the work, so gradient reductions can
///   start there.
///
/// Messages use the schedule's tags on the pipeline group, whose rank is the stage. With one stage no
/// group is needed and the schedule has no transfers.
public final class PipelineExecutor {
    public let schedule: PipelineSchedule
    /// This rank's stage.
    public let stage: Int
    private let group: (any Communicator)?
    /// Index in the action list of the last action that adds to each local chunk's weight gradients.
    private let finalizingAction: [Int: Int]
    private var freeBuffers: [FloatBuffer] = []
    private var clock = ContinuousClock()

    /// - Parameters:
    ///   - group: the pipeline group (`size == schedule.stages`, rank = `stage`); `nil` with one stage.
    /// - Throws: ``PipelineError/invalidSchedule(violations:)`` when the schedule breaks an invariant or
    ///   the group does not match it.
    public init(schedule: PipelineSchedule, stage: Int, group: (any Communicator)?) throws {
        let violations = schedule.violations
        guard violations.isEmpty else { throw PipelineError.invalidSchedule(violations: violations) }
        let size = group?.size ?? 1, rank = group?.rank ?? 0
        guard size == schedule.stages, rank == stage, (0..<schedule.stages).contains(stage) else {
            throw PipelineError.invalidSchedule(violations: [.malformed(
                reason: "the pipeline group has \(size) ranks (this is rank \(rank)) but the schedule has \(schedule.stages) stages and runs stage \(stage)")])
        }
        self.schedule = schedule
        self.stage = stage
        self.group = group
        var last: [Int: Int] = [:]
        for (index, action) in schedule.actions[stage].enumerated() {
            guard let (kind, _, chunk) = action.compute, kind == .backward || kind == .backwardWeight else { continue }
            last[chunk] = index
        }
        finalizingAction = last
    }

    /// A message in flight from this rank, and the (micro-batch, chunk) state whose buffer it reads.
    private struct PendingSend {
        let request: any CollectiveRequest
        let owner: StateKey
    }

    private struct StateKey: Hashable {
        let microBatch: Int, chunk: Int
    }

    /// Runs this rank's actions for one step.
    /// - Parameters:
    ///   - recorder: records every action as a span on this stage's row, tagged with `step` (`nil`: no trace).
    /// - Throws: errors from `work`, ``CollectiveError`` when a peer fails or a transfer times out, and
    ///   ``PipelineError/invalidSchedule(violations:)`` when the work's outputs contradict the schedule.
    ///
    /// Longer than 80 lines on purpose: its nested helpers (post the next receive, wait for a transfer, release a
    /// finished send) share the step's in-flight tables, and one loop over the actions reads as the schedule does.
    public func run(_ work: some PipelineStageWork, recorder: PipelineTraceRecorder? = nil, step: Int? = nil) throws -> PipelineStepReport {
        let actions = schedule.actions[stage]
        var received: [PipelineTransfer: FloatBuffer] = [:]
        var posted: [PipelineTransfer: (request: any CollectiveRequest, buffer: FloatBuffer)] = [:]
        var outputs: [PipelineTransfer: (data: UnsafeBufferPointer<Float>, owner: StateKey)] = [:]
        var sends: [PendingSend] = []
        var unreleased: Set<StateKey> = []
        var liveBytes: [StateKey: Int] = [:]
        var report = PipelineStepReport(peakInFlight: 0, peakActivationBytes: 0, computeSeconds: 0, waitSeconds: 0, sentBytes: 0)
        var nextReceive = 0

        func malformed(_ reason: String) -> PipelineError {
            PipelineError.invalidSchedule(violations: [.malformed(reason: "stage \(stage): \(reason)")])
        }
        func post(_ transfer: PipelineTransfer) throws {
            guard posted[transfer] == nil, received[transfer] == nil, let group else { return }
            let buffer = freeBuffers.popLast() ?? FloatBuffer(count: 0)
            buffer.reserve(work.boundaryElements(microBatch: transfer.microBatch))
            let request = try group.startReceive(into: UnsafeMutableRawBufferPointer(buffer.mutableElements),
                                                 from: transfer.source.rank, tag: schedule.tag(of: transfer))
            posted[transfer] = (request, buffer)
        }
        /// Posts the first receive after `index` that is not posted yet, so it arrives during the compute.
        func postAhead(after index: Int) throws {
            nextReceive = max(nextReceive, index + 1)
            while nextReceive < actions.count {
                defer { nextReceive += 1 }
                if case let .receive(transfer) = actions[nextReceive] {
                    try post(transfer)
                    return
                }
            }
        }
        /// The data `transfer` brought, consumed by one compute action.
        func take(_ transfer: PipelineTransfer?) throws -> FloatBuffer? {
            guard let transfer else { return nil }
            guard let buffer = received.removeValue(forKey: transfer) else {
                throw malformed("\(transfer) is used before it was received")
            }
            return buffer
        }
        /// Releases every state whose sends have completed (all of them when `waiting`). A state whose output
        /// is not sent yet (its send action comes after the compute action) is busy too: a non-blocking send
        /// reads the state's buffer until it completes, and a released state is reused by the next micro-batch.
        func releaseFinished(waiting: Bool) throws {
            if waiting { for send in sends { try send.request.wait() } }
            sends.removeAll { $0.request.isComplete }
            let busy = Set(sends.map(\.owner)).union(outputs.values.map(\.owner))
            for key in unreleased where !busy.contains(key) {
                work.release(microBatch: key.microBatch, chunk: key.chunk)
                unreleased.remove(key)
            }
        }
        func timed(_ body: () throws -> Void) rethrows -> Double {
            let start = clock.now
            try body()
            let elapsed = clock.now - start
            return elapsed.seconds
        }

        for (index, action) in actions.enumerated() {
            let span = recorder?.begin(action, rank: stage, step: step)
            defer { if let span { recorder?.end(span) } }
            switch action {
            case let .receive(transfer):
                try post(transfer)
                guard let (request, buffer) = posted.removeValue(forKey: transfer) else {
                    throw malformed("\(transfer) arrives on a stage without a pipeline group")
                }
                report.waitSeconds += try timed { try request.wait() }
                received[transfer] = buffer
            case let .send(transfer):
                guard let group else { throw malformed("\(transfer) leaves a stage without a pipeline group") }
                guard let (data, owner) = outputs.removeValue(forKey: transfer) else {
                    throw malformed("\(transfer) is sent before the action that computes it")
                }
                let request = try group.startSend(UnsafeRawBufferPointer(data), to: transfer.destination.rank,
                                                  tag: schedule.tag(of: transfer))
                sends.append(PendingSend(request: request, owner: owner))
                report.sentBytes += data.count * MemoryLayout<Float>.stride
            default:
                guard let (kind, microBatch, chunk) = action.compute else { continue }
                try postAhead(after: index)
                let location = PipelineLocation(rank: stage, chunk: chunk), key = StateKey(microBatch: microBatch, chunk: chunk)
                let input = try take(schedule.input(of: kind, microBatch: microBatch, at: location))
                let finalizes = finalizingAction[chunk] == index
                var output: UnsafeBufferPointer<Float>?
                report.computeSeconds += try timed {
                    switch kind {
                    case .forward:
                        output = try work.forward(microBatch: microBatch, chunk: chunk, input: input.map { UnsafePointer($0.pointer) })
                    case .backward, .backwardInput:
                        output = try work.backward(microBatch: microBatch, chunk: chunk, outputGradient: input?.pointer,
                                                   mode: kind == .backward ? .full : .inputOnly, finalizesGradients: finalizes)
                    case .backwardWeight:
                        try work.backwardWeights(microBatch: microBatch, chunk: chunk, finalizesGradients: finalizes)
                    }
                }
                if let input { freeBuffers.append(input) }
                if let transfer = schedule.output(of: kind, microBatch: microBatch, at: location) {
                    guard let output else { throw malformed("\(action) produced no data for \(transfer)") }
                    outputs[transfer] = (output, key)
                }
                switch kind {
                case .forward:
                    liveBytes[key] = work.savedActivationBytes(microBatch: microBatch, chunk: chunk)
                    report.peakInFlight = max(report.peakInFlight, liveBytes.count)
                    report.peakActivationBytes = max(report.peakActivationBytes, liveBytes.values.reduce(0, +))
                case .backward, .backwardWeight:
                    liveBytes[key] = nil
                    unreleased.insert(key)
                case .backwardInput:
                    break
                }
                try releaseFinished(waiting: false)
            }
        }
        guard outputs.isEmpty, received.isEmpty, posted.isEmpty else {
            throw malformed("the step ended with data that was never sent or used")
        }
        try releaseFinished(waiting: true)
        return report
    }
}
