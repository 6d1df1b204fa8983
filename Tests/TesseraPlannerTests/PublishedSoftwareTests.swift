import Testing
import TesseraParallel
import TesseraPipeline
import TesseraPlanner

/// The mechanisms behind the `llama3` and `deepseek-v3` profiles, each against a hand count and against the variant
/// without it (so each check can fail).
@Suite struct PublishedSoftwareTests {
    let catalog = try! Catalog.bundled()

    /// FlashAttention stores no s × s probabilities (Dao et al. 2022 §3.1): without recomputation it keeps what
    /// selective recomputation keeps; materialized attention keeps 2as²b/t more per layer (no dropout here).
    @Test func flashAttentionKeepsNoScores() throws {
        let model = try catalog.model(named: "llama-3-8b")
        func bytes(_ recompute: Recomputation, flash: Bool) -> Double {
            model.activationBytesPerLayer(layer: 0, sequenceLength: 8192, microBatch: 1, tensorParallel: 4,
                                          sequenceParallel: true, recompute: recompute, flashAttention: flash)
        }
        #expect(bytes(.none, flash: true) == bytes(.selective, flash: true))
        let scores = 2.0 * Double(model.attentionHeads) * 8192 * 8192 / 4
        #expect(abs(bytes(.none, flash: false) - bytes(.selective, flash: false) - scores) < 1)
    }

    /// Llama 3's split (§3.3.2): 126 layers as 128 slots over 16 stages, 7 layers on the first and the last stage;
    /// with 8 chunks per stage the first chunk holds only the embedding, so the first stage's warm-up holds its 7
    /// layers for p = 16 micro-batches (not p + (p−1)/v as for an even split).
    @Test func embeddingAndHeadTakeALayerSlotEach() throws {
        let job = TrainingJob(model: try catalog.model(named: "llama-3-405b"), accelerator: try catalog.accelerator(named: "h100"),
                              devices: 8192, sequenceLength: 8192, globalBatchSize: 2048)
        let layout = TrainingLayout(tp: 8, pp: 16, dp: 64, microBatchSize: 1, schedule: .interleaved, virtualStages: 8,
                                    recompute: .none, zeroStage: 2)
        let split = TrainingCostModel(job: job, embeddingAndHeadAsLayers: true)
        let even = TrainingCostModel(job: job)
        #expect(split.microBatchesInFlight(layout, microBatches: 32, firstStage: true) == 16)
        #expect(even.microBatchesInFlight(layout, microBatches: 32, firstStage: true) == 16 + 15.0 / 8)
        // One layer of 3.19B parameters over tp 8 fewer on the first stage: 2 bytes each of weights.
        let layer = job.model.layerParameters(1).dense / 8
        #expect(abs(even.memory(layout).weights - split.memory(layout).weights - 2 * layer) / (2 * layer) < 1e-9)
        let plan = try TrainingSearch.run(job, space: SoftwareProfile.llama3.space, keep: 5)
        #expect(plan.ranked.allSatisfy { $0.layout.schedule != .interleaved || 128 % ($0.layout.pp * $0.layout.virtualStages) == 0 })
    }

    func deepSeek(_ dispatch: ExpertDispatch, overlap: CommunicationOverlap = .denseAxes, limited: Bool = true) throws
        -> TrainingEstimate
    {
        var model = try catalog.model(named: "deepseek-v3")
        if !limited { model.moe?.routingGroups = nil }
        let job = TrainingJob(model: model, accelerator: try catalog.accelerator(named: "h800"), devices: 2048,
                              sequenceLength: 4096, globalBatchSize: 15_360, computeFormat: .fp8)
        let layout = TrainingLayout(tp: 1, pp: 16, dp: 128, ep: 64, microBatchSize: 1, schedule: .oneForwardOneBackward,
                                    recompute: .full, zeroStage: 1, overlap: overlap, expertDispatch: dispatch)
        return TrainingCostModel(job: job).estimate(layout, bubble: ClosedFormBubble())
    }

    /// DeepSeek-V3's dispatch (§3.2.2) over ep 64 on 8 nodes: a token crosses InfiniBand once per routed node, at most
    /// 4 (7/8 of them remote: 3.5 copies), dispatched in FP8 and combined in BF16, against 8 BF16 copies, 7/8 remote,
    /// per all-to-all: (3.5·1 + 3.5·2) / 2 / (7·2) = 0.375 of the bytes on the slower link (plus the same latencies).
    /// Without the node limit every routed expert may sit on its own node (7 remote copies).
    @Test func nodeForwardedDispatchMovesFewerBytes() throws {
        let perExpert = try deepSeek(.allToAll).time.expertParallel
        let forwarded = try deepSeek(.nodeForwarded).time.expertParallel
        let unlimited = try deepSeek(.nodeForwarded, limited: false).time.expertParallel
        #expect(forwarded / perExpert > 0.375 && forwarded / perExpert < 0.45, "\(forwarded / perExpert)")
        #expect(forwarded < unlimited && unlimited < perExpert)
        #expect(try catalog.model(named: "deepseek-v3").moe?.routingGroupsPerToken == 4)
    }

    /// DualPipe (§3.2.1): the all-to-alls hide behind another micro-batch's computation, which runs on 112 of the
    /// H800's 132 SMs meanwhile (§3.2.2).
    @Test func dualPipeHidesTheAllToAllOnFewerSMs() throws {
        let paid = try deepSeek(.nodeForwarded)
        let hidden = try deepSeek(.nodeForwarded, overlap: .all)
        #expect(paid.time.expertParallel > 0 && hidden.time.expertParallel == 0)
        #expect(abs(hidden.time.compute / paid.time.compute - 132.0 / 112) < 1e-9)
    }
}
