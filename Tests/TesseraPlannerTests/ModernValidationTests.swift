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
    /// checkpointing", §3.3.2), interleaved with one layer slot per chunk and ZeRO-2; it ranks in the top 5 at 16384
    /// GPUs (8K and 128K) and 9th at 8192, where tp 4 with cp 2 pays half the tp collectives, which Meta's software
    /// does not overlap. The model is 21-26 % over the published TFLOP/s (the full-recomputation layout it chose
    /// before, 0.91-0.93, agreed only by charging a third more compute).
    @Test func llama3RunsAsPublished() {
        for prefix in ["Llama 3 405B, 8K, 8192", "Llama 3 405B, 8K, 16384", "Llama 3 405B, 128K"] {
            let c = check(prefix)
            let layout = c.published.layout
            #expect(layout.recompute == .none && layout.zeroStage == 2, "\(prefix): \(layout.summary)")
            #expect(layout.schedule == .interleaved && layout.virtualStages == 8 && layout.cp == c.run.cp)
            #expect(c.ratio > 1.15 && c.ratio < 1.3, "\(prefix): \(c.ratio)")
        }
        #expect(check("Llama 3 405B, 8K, 16384").meetsRequiredRank && check("Llama 3 405B, 128K").meetsRequiredRank)
        #expect(!check("Llama 3 405B, 8K, 8192").meetsRequiredRank)
        let long = check("Llama 3 405B, 128K")
        #expect(long.modelTeraflops(causal: false) / long.modelTeraflops(causal: true) > 1.3)
    }

    /// DeepSeek-V3 under its own software (`deepseek-v3`): DualPipe hides the node-forwarded all-to-alls completely
    /// and the published mesh is predicted within ±15 % of its throughput; the memory model, which lacks DeepSeek's
    /// FP8 activation caching and partial recomputation (§3.2.3, §3.3.3), still needs full recomputation to fit, and
    /// the mesh ranks outside the five.
    @Test func deepSeekV3HidesItsAllToAll() {
        let deepSeek = check("DeepSeek-V3")
        #expect(abs(deepSeek.ratio - 1) <= 0.15, "\(deepSeek.ratio)")
        #expect(deepSeek.published.time.expertParallel == 0)
        #expect(deepSeek.published.layout.recompute == .full && !deepSeek.meetsRequiredRank)
    }
}
