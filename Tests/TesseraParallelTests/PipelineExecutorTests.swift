import Testing
import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraPipeline

/// A toy model for the executor: model chunk `k` maps a vector `x` of 4 floats to `a_k·x + b_k`; the loss
/// is the sum of the last chunk's outputs. Inputs and weights are small integers, so every value and
/// gradient is an exact fp32 integer whatever the order of accumulation.
final class ToyWork: PipelineStageWork {
    static let width = 4
    let schedule: PipelineSchedule
    let stage: Int
    /// `[local chunk]`: the weight and bias, and their gradients.
    var a: [Float], b: [Float], da: [Float], db: [Float]
    var lossSum: Float = 0
    var released: [[Int]] = []
    var finalized: [Int] = []
    var weightCalls: [Int: Int] = [:]
    private var inputs: [Key: [Float]] = [:], outputs: [Key: FloatBuffer] = [:], gradients: [Key: FloatBuffer] = [:]
    private var outputGradients: [Key: [Float]] = [:]

    struct Key: Hashable { let microBatch: Int, chunk: Int }

    init(schedule: PipelineSchedule, stage: Int) {
        self.schedule = schedule
        self.stage = stage
        let chunks = (0..<schedule.virtualStages).map { schedule.modelChunk(at: PipelineLocation(rank: stage, chunk: $0)) }
        a = chunks.map { Float($0 % 3 + 1) }
        b = chunks.map { Float($0 % 2) }
        da = chunks.map { _ in 0 }
        db = chunks.map { _ in 0 }
    }

    static func tokens(_ microBatch: Int) -> [Float] { (0..<width).map { Float((microBatch + $0) % 5) } }

    private func isFirst(_ chunk: Int) -> Bool { schedule.modelChunk(at: PipelineLocation(rank: stage, chunk: chunk)) == 0 }
    private func isLast(_ chunk: Int) -> Bool {
        schedule.modelChunk(at: PipelineLocation(rank: stage, chunk: chunk)) == schedule.modelChunks - 1
    }

    func boundaryElements(microBatch: Int) -> Int { Self.width }

    func forward(microBatch: Int, chunk: Int, input: UnsafePointer<Float>?) throws -> UnsafeBufferPointer<Float>? {
        let key = Key(microBatch: microBatch, chunk: chunk)
        let x = isFirst(chunk) ? Self.tokens(microBatch) : Array(UnsafeBufferPointer(start: input!, count: Self.width))
        inputs[key] = x
        let y = x.map { a[chunk] * $0 + b[chunk] }
        if isLast(chunk) {
            lossSum += y.reduce(0, +)
            return nil
        }
        outputs[key] = FloatBuffer(y)
        return outputs[key]!.elements
    }

    func backward(microBatch: Int, chunk: Int, outputGradient: UnsafeMutablePointer<Float>?, mode: BackwardMode,
                  finalizesGradients: Bool) throws -> UnsafeBufferPointer<Float>? {
        let key = Key(microBatch: microBatch, chunk: chunk)
        let dy = isLast(chunk) ? [Float](repeating: 1, count: Self.width) : Array(UnsafeBufferPointer(start: outputGradient!, count: Self.width))
        outputGradients[key] = dy
        if mode == .full { try backwardWeights(microBatch: microBatch, chunk: chunk, finalizesGradients: finalizesGradients) }
        if isFirst(chunk) { return nil }
        gradients[key] = FloatBuffer(dy.map { a[chunk] * $0 })
        return gradients[key]!.elements
    }

    func backwardWeights(microBatch: Int, chunk: Int, finalizesGradients: Bool) throws {
        let key = Key(microBatch: microBatch, chunk: chunk)
        let x = inputs[key]!, dy = outputGradients[key]!
        da[chunk] += zip(x, dy).reduce(0) { $0 + $1.0 * $1.1 }
        db[chunk] += dy.reduce(0, +)
        weightCalls[chunk, default: 0] += 1
        if finalizesGradients {
            #expect(weightCalls[chunk] == schedule.microBatches, "gradients finalized before the last micro-batch")
            finalized.append(chunk)
        }
    }

    func savedActivationBytes(microBatch: Int, chunk: Int) -> Int { Self.width * 4 }

    /// Recycles the state as an engine does (the next micro-batch overwrites its buffers): the buffers are
    /// poisoned with NaN, so data sent from a state after its release arrives as NaN and spoils the gradients.
    func release(microBatch: Int, chunk: Int) {
        released.append([microBatch, chunk])
        let key = Key(microBatch: microBatch, chunk: chunk)
        for buffer in [outputs[key], gradients[key]].compactMap({ $0 }) { buffer.mutableElements.update(repeating: .nan) }
    }
}

/// The single-device result: per model chunk, the weight gradients and the total loss.
func toyReference(modelChunks: Int, microBatches: Int) -> (da: [Float], db: [Float], loss: Float) {
    let a = (0..<modelChunks).map { Float($0 % 3 + 1) }, b = (0..<modelChunks).map { Float($0 % 2) }
    var da = [Float](repeating: 0, count: modelChunks), db = da, loss: Float = 0
    for m in 0..<microBatches {
        var xs = [ToyWork.tokens(m)]
        for k in 0..<modelChunks { xs.append(xs[k].map { a[k] * $0 + b[k] }) }
        loss += xs[modelChunks].reduce(0, +)
        var dy = [Float](repeating: 1, count: ToyWork.width)
        for k in (0..<modelChunks).reversed() {
            da[k] += zip(xs[k], dy).reduce(0) { $0 + $1.0 * $1.1 }
            db[k] += dy.reduce(0, +)
            dy = dy.map { a[k] * $0 }
        }
    }
    return (da, db, loss)
}

@Suite(.serialized) struct PipelineExecutorTests {
    static let schedules: [(PipelineScheduleKind, Int, Int)] = PipelineScheduleKind.allCases.flatMap { kind in
        [1, 2, 3, 4].flatMap { p in
            [1, 2, 4, 8].compactMap { m in kind == .interleaved && (p < 2 || m % p != 0) ? nil : (kind, p, m) }
        }
    }

    struct StageResult: Sendable {
        var da: [Float], db: [Float], loss: Float
        var report: PipelineStepReport
        var releasedAll: Bool
        var finalizedChunks: [Int]
    }

    static func run(_ schedule: PipelineSchedule, steps: Int = 2) throws -> [StageResult] {
        try ThreadGroup.run(ranks: schedule.stages, deadline: .seconds(30)) { world in
            let executor = try PipelineExecutor(schedule: schedule, stage: world.rank, group: schedule.stages > 1 ? world : nil)
            var result: StageResult?
            for _ in 0..<steps {
                let work = ToyWork(schedule: schedule, stage: world.rank)
                let report = try executor.run(work)
                let expected = Set((0..<schedule.microBatches).flatMap { m in (0..<schedule.virtualStages).map { [m, $0] } })
                result = StageResult(da: work.da, db: work.db, loss: work.lossSum, report: report,
                                     releasedAll: Set(work.released) == expected && work.released.count == expected.count,
                                     finalizedChunks: work.finalized.sorted())
            }
            return result!
        }
    }

    /// Every schedule gives the single-device gradients and loss, releases each state once, flags each chunk's
    /// gradients final once (after its last micro-batch), and holds as many micro-batches in flight per stage
    /// as the simulator predicts.
    @Test(arguments: schedules)
    func runsEverySchedule(kind: PipelineScheduleKind, stages: Int, microBatches: Int) throws {
        let schedule = try PipelineSchedule(kind, stages: stages, microBatches: microBatches,
                                            virtualStages: kind == .interleaved ? 2 : 1)
        let results = try Self.run(schedule)
        let reference = toyReference(modelChunks: schedule.modelChunks, microBatches: microBatches)
        let simulated = try PipelineSimulator.simulate(schedule: schedule).peakActivations
        for (stage, result) in results.enumerated() {
            for chunk in 0..<schedule.virtualStages {
                let k = schedule.modelChunk(at: PipelineLocation(rank: stage, chunk: chunk))
                #expect(result.da[chunk] == reference.da[k])
                #expect(result.db[chunk] == reference.db[k])
            }
            #expect(result.releasedAll)
            #expect(result.finalizedChunks == Array(0..<schedule.virtualStages))
            #expect(result.report.peakInFlight == simulated[stage])
            #expect(result.report.peakActivationBytes == simulated[stage] * ToyWork.width * 4)
        }
        #expect(results[schedule.location(ofModelChunk: schedule.modelChunks - 1).rank].loss == reference.loss)
    }

    /// On the first stage GPipe holds all m micro-batches, 1F1B at most p.
    @Test func firstStageInFlightMatchesTheSchedules() throws {
        let gpipe = try Self.run(PipelineSchedule(.gpipe, stages: 4, microBatches: 8), steps: 1)
        let oneF1B = try Self.run(PipelineSchedule(.oneForwardOneBackward, stages: 4, microBatches: 8), steps: 1)
        #expect(gpipe[0].report.peakInFlight == 8)
        #expect(oneF1B[0].report.peakInFlight == 4)
    }

    @Test func rejectsABrokenScheduleAndAMismatchedGroup() throws {
        var schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 2)
        schedule.actions[1].removeAll { if case .receive = $0 { return true } else { return false } }
        #expect(throws: PipelineError.self) { _ = try PipelineExecutor(schedule: schedule, stage: 0, group: nil) }
        let valid = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 2)
        #expect(throws: PipelineError.self) { _ = try PipelineExecutor(schedule: valid, stage: 0, group: nil) }
    }

    /// A stage that never runs its part makes its peer fail promptly instead of hanging.
    @Test func aMissingPeerFailsPromptly() throws {
        let schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 2)
        #expect(throws: (any Error).self) {
            _ = try ThreadGroup.run(ranks: 2, deadline: .milliseconds(300)) { world -> Int in
                guard world.rank == 1 else { return 0 }
                _ = try PipelineExecutor(schedule: schedule, stage: 1, group: world).run(ToyWork(schedule: schedule, stage: 1))
                return 1
            }
        }
    }
}
