import Testing
import TesseraModels
import TesseraParallel
import TesseraPipeline

/// Recomputation, ZeRO-1 and the pipeline schedules change memory, never the result.
@Suite(.serialized) struct MemoryOptionTests {
    static let globalBatch = 8

    static func train(_ model: TransformerConfig, pp: Int = 1, dp: Int = 1, schedule: PipelineScheduleKind = .oneForwardOneBackward,
                      recompute: Recomputation = .none, zeroStage: Int = 0, microBatchSize: Int = 2) throws -> MeshRun {
        try MeshHarness.train(model, ParallelConfig(dp: dp, pp: pp, microBatchSize: microBatchSize, pipeline: .init(schedule: schedule),
                                                    memory: .init(recompute: recompute, zeroStage: zeroStage)),
                              globalBatch: globalBatch)
    }

    /// Recomputation repeats the same arithmetic on the same inputs: losses, norms and parameters are equal
    /// bit for bit, while the activations held between the passes shrink (full < selective < none).
    @Test(arguments: [(MeshModels.gpt2, 1), (MeshModels.gpt2, 2), (MeshModels.llama, 1), (MeshModels.llama, 2)])
    func recomputationKeepsTheLossesAndSavesMemory(model: TransformerConfig, pp: Int) throws {
        let none = try Self.train(model, pp: pp)
        let selective = try Self.train(model, pp: pp, recompute: .selective)
        let full = try Self.train(model, pp: pp, recompute: .full)
        for run in [selective, full] {
            #expect(run.losses == none.losses)
            #expect(run.norms == none.norms)
            #expect(MeshHarness.maxParameterDifference(run, none) == 0)
        }
        let peak = { (run: MeshRun) in run.memory.map(\.activationBytes).max()! }
        #expect(peak(selective) < peak(none))
        #expect(peak(full) < peak(selective))
    }

    /// Measured in real runs on pp = 4, m = 8: the first stage holds 8 micro-batches of activations under
    /// GPipe and 4 (= p) under 1F1B, and the bytes follow.
    @Test func firstStageHoldsMMicroBatchesWithGPipeAndPWith1F1B() throws {
        let gpipe = try Self.train(MeshModels.llama, pp: 4, schedule: .gpipe, microBatchSize: 1)
        let oneF1B = try Self.train(MeshModels.llama, pp: 4, schedule: .oneForwardOneBackward, microBatchSize: 1)
        #expect(gpipe.peakInFlight[0] == 8)
        #expect(oneF1B.peakInFlight[0] == 4)
        #expect(gpipe.peakActivationBytes[0] == 2 * oneF1B.peakActivationBytes[0])
        #expect(gpipe.losses == oneF1B.losses)
    }

    /// ZeRO-1 keeps 1/dp of the AdamW moments per rank (within 5%: each bucket's slice is rounded up), with the
    /// same losses and parameters as ZeRO 0 within the data-parallel tolerance.
    @Test(arguments: [2, 4])
    func zeroOneShardsTheOptimizer(dp: Int) throws {
        let single = try Self.train(MeshModels.llama, microBatchSize: 1)
        let replicated = try Self.train(MeshModels.llama, dp: dp, microBatchSize: 1)
        let sharded = try Self.train(MeshModels.llama, dp: dp, zeroStage: 1, microBatchSize: 1)
        let full = Double(single.memory[0].optimizerBytes)
        #expect(replicated.memory.allSatisfy { Double($0.optimizerBytes) == full })
        for memory in sharded.memory { #expect(Double(memory.optimizerBytes) <= full / Double(dp) * 1.05) }
        #expect(Double(sharded.memory.reduce(0) { $0 + $1.optimizerBytes }) >= full)
        MeshTolerance.check(sharded, against: single)
        #expect(sharded.losses == replicated.losses)
    }

    /// The memory printed before the first step is the memory the step then holds, for every schedule,
    /// recomputation and sharding.
    @Test(arguments: [
        (PipelineScheduleKind.gpipe, Recomputation.none, 1), (.oneForwardOneBackward, .selective, 1), (.oneForwardOneBackward, .full, 1),
        (.interleaved, .full, 0), (.zeroBubbleH1, .none, 1), (.interleaved, .selective, 1),
    ])
    func predictedMemoryIsTheMeasuredMemory(schedule: PipelineScheduleKind, recompute: Recomputation, zeroStage: Int) throws {
        for model in [MeshModels.gpt2, MeshModels.llama] {
            let parallel = try ParallelConfig(dp: 2, pp: 2, tp: 2, sequenceParallel: recompute != .none, microBatchSize: 1,
                                              pipeline: .init(schedule: schedule, virtualStages: schedule == .interleaved ? 2 : 1),
                                              memory: .init(recompute: recompute, zeroStage: zeroStage))
            let run = try MeshHarness.train(model, parallel, globalBatch: Self.globalBatch, steps: 1)
            #expect(run.predictedMemory == run.memory)
        }
    }
}
