import Testing
import TesseraParallel
import TesseraPipeline
import TesseraPlanner

/// DeepSeek-V3's memory recipe and DualPipe (DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", §3.2.1, §3.2.3,
/// §3.3.3, Table 2), each against a hand count and against the layout without it.
@Suite struct DeepSeekRecipeTests {
    let catalog = try! Catalog.bundled()

    /// One MoE layer of DeepSeek-V3 per token (h 7168, 128 heads of value width 128, q rank 1536, kv rank 512 with
    /// a 64-wide rotary key, 8 of 256 experts of 2048, one shared expert of 2048): residual 2 × 2h in 16 bits; the
    /// latents 2 × (1536 + 512 + 64); the output projection's input 1.5 × 16384 (E5M6); 8 routed copies of h in
    /// FP8; gate and up of 8 experts and the shared one in FP8; 256 router logits in 16 bits.
    @Test func compactActivationsByHand() throws {
        let model = try catalog.model(named: "deepseek-v3")
        let compact = model.compactActivationBytesPerLayer(layer: 3, tokens: 1)
        #expect(compact.replicated == 4 * 7168)
        let latents: Double = 2 * (1536 + 512 + 64), output: Double = 1.5 * 16384, routed: Double = 8 * 7168
        let swiglu: Double = 2 * (8 * 2048 + 2048), router: Double = 2 * 256
        let split = latents + output + routed + swiglu + router
        #expect(compact.split == split)
        let standard = model.linearActivationBytesPerLayer(layer: 3, tokens: 1)
        #expect(compact.replicated + compact.split < 0.4 * (standard.replicated + standard.split))
        // Recomputed up-projections: 1536 × 128 × (128 + 64) for the queries, 512 × 128 × (128 + 128) for keys and values.
        #expect(model.upProjectionParameters() == 1536.0 * 128 * 192 + 512.0 * 128 * 256)
    }

    func estimate(dualPipe: Bool, compact: Bool, recompute: Recomputation = .none) throws -> TrainingEstimate {
        let job = TrainingJob(model: try catalog.model(named: "deepseek-v3"), accelerator: try catalog.accelerator(named: "h800"),
                              devices: 2048, sequenceLength: 4096, globalBatchSize: 15_360, computeFormat: .fp8)
        var layout = TrainingLayout(tp: 1, pp: 16, dp: 128, ep: 64, microBatchSize: 1, schedule: .oneForwardOneBackward,
                                    recompute: recompute, zeroStage: 1, overlap: .all, expertDispatch: .nodeForwarded)
        (layout.dualPipe, layout.lowPrecisionActivations) = (dualPipe, compact)
        return TrainingCostModel(job: job).estimate(layout, bubble: ClosedFormBubble())
    }

    /// DualPipe against 1F1B on the same mesh: a bubble of (p/2 − 1)(F + 2B − W) in place of (p − 1)(F + B + W),
    /// every rank holding two stages' weights (Table 2's 2×; with these 16-bit states the fullest rank is a middle
    /// one of 8 MoE layers, against the 1F1B first stage's 4 and the embedding), and one micro-batch more in flight.
    @Test func dualPipeHalvesTheBubbleAndDoublesTheWeights() throws {
        let dual = try estimate(dualPipe: true, compact: true)
        let plain = try estimate(dualPipe: false, compact: true)
        #expect(dual.time.pipelineBubble > 0 && dual.time.pipelineBubble < 0.4 * plain.time.pipelineBubble,
                "\(dual.time.pipelineBubble) vs \(plain.time.pipelineBubble)")
        #expect(dual.memory.weights > plain.memory.weights)
        #expect(dual.memory.activations > plain.memory.activations)
        #expect(dual.layout.summary.contains("dualpipe") && dual.layout.summary.contains("activations:fp8"))
        let parsed = try TrainingLayout(summary: dual.layout.summary, profile: .megatronCore)
        #expect(parsed.dualPipe && parsed.lowPrecisionActivations)
    }

    /// The recipe stores about a third of the 16-bit activations and recomputes the up-projections: it fits
    /// without full recomputation where the 16-bit count does not, and costs a little recompute time.
    @Test func compactActivationsFitWithoutFullRecomputation() throws {
        let compact = try estimate(dualPipe: true, compact: true)
        let standard = try estimate(dualPipe: true, compact: false)
        #expect(compact.fits && !standard.fits)
        #expect(compact.time.recompute > 0 && standard.time.recompute == 0)
        #expect(compact.time.recompute < 0.05 * compact.time.compute)
        let full = try estimate(dualPipe: true, compact: true, recompute: .full)
        #expect(full.time.recompute > 5 * compact.time.recompute)
    }
}

/// What each published software keeps in memory and overlaps, by its source.
@Suite struct SoftwarePrecisionTests {
    let catalog = try! Catalog.bundled()

    /// Megatron-Core with BF16 accumulates and reduces gradients in FP32 buffers: 4 bytes per parameter on every
    /// rank (its distributed-optimizer guide's 6 + 12/d), twice the 16-bit count.
    @Test func megatronCoreKeepsFloat32Gradients() throws {
        let job = TrainingJob(model: try catalog.model(named: "mixtral-8x7b"), accelerator: try catalog.accelerator(named: "h100"),
                              devices: 64, sequenceLength: 4096, globalBatchSize: 256)
        let layout = try TrainingLayout(summary: "tp1 pp4 dp16 ep8 mbs1 interleaved(v8) recompute:none zero1",
                                        profile: .megatronCore)
        let core = TrainingCostModel(job: job, space: SoftwareProfile.megatronCore.space)
        let sixteenBit = TrainingCostModel(job: job)
        #expect(core.memory(layout).gradients == 2 * sixteenBit.memory(layout).gradients)
        #expect(core.memory(layout).optimizer == sixteenBit.memory(layout).optimizer)
        #expect(core.memory(layout).weights == sixteenBit.memory(layout).weights)
    }

    /// The DeepSeek-V3 report describes no overlap of tensor-parallel collectives (it calls tp "costly", §3.2.3):
    /// a tp 2 layout under its profile pays them, while the same layout overlapped hides up to half (the first of
    /// its two chunks stays exposed).
    @Test func deepSeekPaysItsTensorParallelCollectives() throws {
        #expect(!SoftwareProfile.deepSeekV3.space.overlap.tensorParallel)
        #expect(SoftwareProfile.deepSeekV3.space.overlap.expertParallel)
        let job = TrainingJob(model: try catalog.model(named: "deepseek-v3"), accelerator: try catalog.accelerator(named: "h800"),
                              devices: 2048, sequenceLength: 4096, globalBatchSize: 15_360, computeFormat: .fp8)
        let summary = "tp2 pp8 dp128 ep64 etp1 mbs1 1f1b dualpipe recompute:none zero1"
        let paid = try TrainingSearch.estimate(try TrainingLayout(summary: summary, profile: .deepSeekV3), of: job,
                                               profile: .deepSeekV3)
        var hidden = try TrainingLayout(summary: summary, profile: .deepSeekV3)
        hidden.overlap.tensorParallel = true
        let cost = TrainingCostModel(job: job, space: SoftwareProfile.deepSeekV3.space)
        let overlapped = cost.estimate(hidden, bubble: ClosedFormBubble())
        #expect(paid.time.tensorParallel > 1.5 * overlapped.time.tensorParallel, "\(paid.time.tensorParallel)")
    }

    /// DualPipe needs an even pp and an even micro-batch count (§3.2.1): the rule itself, and `--explain` refusing
    /// the published mesh at a batch of 15,232 sequences (119 micro-batches per dp rank) with that reason, while the
    /// same mesh at 15,360 (120) runs; the search never generates the odd case.
    @Test func dualPipeNeedsEvenStagesAndMicroBatches() throws {
        #expect(TrainingLayout.dualPipeRuns(stages: 16, microBatches: 120))
        #expect(TrainingLayout.dualPipeRuns(stages: 2, microBatches: 2))
        #expect(!TrainingLayout.dualPipeRuns(stages: 16, microBatches: 119))
        #expect(!TrainingLayout.dualPipeRuns(stages: 15, microBatches: 120))
        func job(batch: Int) throws -> TrainingJob {
            TrainingJob(model: try catalog.model(named: "deepseek-v3"), accelerator: try catalog.accelerator(named: "h800"),
                        devices: 2048, sequenceLength: 4096, globalBatchSize: batch, computeFormat: .fp8)
        }
        let layout = try TrainingLayout(summary: "tp1 pp16 dp128 ep64 mbs1 recompute:none zero1", profile: .deepSeekV3)
        #expect(layout.dualPipe)
        _ = try TrainingSearch.estimate(layout, of: try job(batch: 15_360), profile: .deepSeekV3)
        do {
            _ = try TrainingSearch.estimate(layout, of: try job(batch: 15_232), profile: .deepSeekV3)
            Issue.record("an odd micro-batch count was accepted")
        } catch let error as PlannerError {
            guard case .unsupportedLayout(let framework, _, let reason) = error else { Issue.record("\(error)"); return }
            #expect(framework == "deepseek-v3")
            #expect(reason.contains("DualPipe needs an even number") && reason.contains("119 micro-batches"), "\(reason)")
        }
        var space = SoftwareProfile.deepSeekV3.space
        (space.tensorParallelSizes, space.pipelineParallelSizes, space.expertParallelSizes) = ([1], [16], [64])
        // 15,232 = 128 · 7 · 17: every micro-batch size leaves an odd count, so the one-mesh search has nothing to run.
        do {
            _ = try TrainingSearch.run(try job(batch: 15_232), space: space, keep: 5)
            Issue.record("the search ran DualPipe over odd micro-batch counts")
        } catch {
            #expect("\(error)".contains("even number of micro-batches per dp rank (DualPipe"), "\(error)")
        }
        let plan = try TrainingSearch.run(try job(batch: 15_360), space: space, keep: 5)
        #expect(plan.ranked.allSatisfy { $0.layout.dualPipe && $0.microBatches % 2 == 0 })
    }
}
