import Testing
import TesseraPlanner

/// The long-context and MoE rows of `plan validate` (sources at ``PublishedRuns/llama3Runs`` and
/// ``PublishedRuns/deepSeekV3Run``), pinned: which meet issue #21's ±15 % and top-5 and which do not, so that
/// docs/planner.md changes with the model.
@Suite(.serialized) struct ModernValidationTests {
    static let checks = try! PublishedRuns.check(catalog: try! Catalog.bundled())

    func check(_ prefix: String) -> PublishedRunCheck { Self.checks.first { $0.run.name.hasPrefix(prefix) }! }

    /// Llama 3 405B (Table 4) under Meta's software (`llama3`): the published mesh runs as the paper says it ran,
    /// without recomputation ("we could pre-train Llama 3 on sequences of 8K tokens without activation
    /// checkpointing", §3.3.2), interleaved with one layer slot per chunk and ZeRO-2; within ±15 % of the published
    /// TFLOP/s and in the top 5 on every row, with the H100's achievable matrix rate, FP32 gradient reduce-scatters,
    /// the SMs overlapped collectives take and the backward's second key/value gather (issue #21's must-reach).
    @Test func llama3RunsAsPublished() {
        for prefix in ["Llama 3 405B, 8K, 8192", "Llama 3 405B, 8K, 16384", "Llama 3 405B, 128K"] {
            let c = check(prefix)
            let layout = c.published.layout
            #expect(layout.recompute == .none && layout.zeroStage == 2, "\(prefix): \(layout.summary)")
            #expect(layout.schedule == .interleaved && layout.virtualStages == 8 && layout.cp == c.run.cp)
            #expect(abs(c.ratio - 1) <= 0.15, "\(prefix): \(c.ratio)")
            #expect(c.meetsRequiredRank, "\(prefix): rank \(String(describing: c.rank))")
            #expect(c.published.time.dataParallel > 0, "\(prefix): the dp collectives' SMs are charged")
        }
        let long = check("Llama 3 405B, 128K")
        #expect(long.modelTeraflops(causal: false) / long.modelTeraflops(causal: true) > 1.3)
    }

    /// DeepSeek-V3 under its own software (`deepseek-v3`: DualPipe, FP8 activation caching with RMSNorm and MLA
    /// up-projections recomputed, FP32 gradients and BF16 moments, tp collectives not overlapped): DualPipe hides
    /// the node-forwarded all-to-alls. With each DualPipe rank holding p − r micro-batches of its front stage and
    /// r + 1 of its back stage the mesh fits as published, without full recomputation. With the multi-token-
    /// prediction module (§2.2: a block of the last chunk, a second head pass and loss, on DualPipe's rank 0 with the
    /// embedding and the head) the predicted tokens per second are within ±15 % of the published (met). That rank is
    /// busier than the others by the module and two head passes, which tp 2-4 with pp 4-8 spread; with the shared
    /// expert's own tp pair in every MoE block (``SharedExpertTensorParallelTests``) the tp meshes pay for it, and
    /// the published mesh ranks 5th (met; 9th without that pair).
    @Test func deepSeekV3HidesItsAllToAll() {
        let deepSeek = check("DeepSeek-V3")
        #expect(deepSeek.published.time.expertParallel == 0)
        #expect(deepSeek.published.layout.dualPipe && deepSeek.published.layout.lowPrecisionActivations)
        #expect(deepSeek.published.layout.recompute == .none && deepSeek.published.fits)
        #expect(deepSeek.published.time.multiTokenPrediction > 0.2 * deepSeek.published.stepTime)
        #expect(abs(deepSeek.ratio - 1) <= 0.15, "\(deepSeek.ratio)")
        #expect(deepSeek.meetsRequiredRank, "rank \(String(describing: deepSeek.rank))")
    }

    /// Mixtral 8x7B under Megatron-Core v0.8 (its MoE README's 438 TFLOP/s, counting the whole score matrix as
    /// Megatron does): top-2 of 8 experts, the all-to-all over the eight GPUs of a node on NVLink (charged, not
    /// overlapped), interleaved with one layer per chunk (VP 8), FP32 gradient buffers; within ±15 % and the
    /// published mesh (tp 1, pp 4, ep 8) in the top 5 (issue #21's must-reach).
    @Test func mixtralRunsAsPublished() {
        let mixtral = check("Mixtral 8x7B")
        let layout = mixtral.published.layout
        #expect(layout.schedule == .interleaved && layout.virtualStages == 8 && layout.recompute == .none)
        #expect(mixtral.run.countsWholeScoreMatrix)
        #expect(mixtral.published.time.expertParallel > 0)
        #expect(mixtral.published.time.expertParallel < 0.1 * mixtral.published.stepTime, "NVLink inside a node")
        #expect(abs(mixtral.ratio - 1) <= 0.15, "\(mixtral.ratio)")
        #expect(mixtral.meetsRequiredRank, "rank \(String(describing: mixtral.rank))")
        // Counting only the causal half would compare another number with Megatron's.
        #expect(mixtral.modelTeraflops(causal: true) < mixtral.modelTeraflops(causal: false) * 0.97)
    }
}
