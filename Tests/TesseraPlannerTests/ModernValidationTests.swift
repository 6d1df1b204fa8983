import Testing
import TesseraPlanner

/// The long-context and MoE rows of `plan validate` (sources at ``PublishedRuns/llama3Runs`` and
/// ``PublishedRuns/deepSeekV3Run``), pinned: which meet issue #21's ±15 % and top-5 and which do not, so that
/// docs/planner.md changes with the model.
@Suite(.serialized) struct ModernValidationTests {
    static let checks = try! PublishedRuns.check(catalog: try! Catalog.bundled())

    func check(_ prefix: String) -> PublishedRunCheck { Self.checks.first { $0.run.name.hasPrefix(prefix) }! }

    /// Llama 3 405B (Table 4): the published layouts at 8K on 8192 and 16384 GPUs and at 128K with cp 16 are
    /// predicted within ±15 % of 430, 400 and 380 TFLOP/s per GPU, counting the causal half of attention. The
    /// whole-square count differs little at 8K and by 1.4× at 128K, where it would be 30 % over.
    @Test func llama3ThroughputWithin15Percent() {
        for prefix in ["Llama 3 405B, 8K, 8192", "Llama 3 405B, 8K, 16384", "Llama 3 405B, 128K"] {
            let c = check(prefix)
            #expect(abs(c.ratio - 1) <= 0.15, "\(prefix): \(c.ratio)")
            #expect(c.published.layout.cp == c.run.cp && c.published.layout.tp == 8 && c.published.layout.pp == 16)
        }
        let long = check("Llama 3 405B, 128K")
        #expect(long.modelTeraflops(causal: false) / long.modelTeraflops(causal: true) > 1.3)
    }

    /// Known misses, stated in `plan validate` and docs/planner.md: with everything Megatron-Core offers, the model
    /// prefers cp 2-4 with selective recomputation at 8K (cp halves the activations, so full recomputation is not
    /// needed, and all-gathering 8 key/value heads costs little) over Meta's tp 8, pp 16 with full
    /// recomputation; at 128K it ranks Meta's mesh outside the five too. DeepSeek-V3 is predicted at under half its
    /// throughput: its node-limited routing, FP8 dispatch and DualPipe hide most of the expert all-to-all, which the
    /// planner charges in full.
    @Test func knownMissesArePinned() {
        for prefix in ["Llama 3 405B, 8K, 8192", "Llama 3 405B, 8K, 16384", "Llama 3 405B, 128K"] {
            #expect(!check(prefix).meetsRequiredRank, "\(prefix) now ranks \(String(describing: check(prefix).rank))")
        }
        let deepSeek = check("DeepSeek-V3")
        #expect(deepSeek.ratio < 0.5 && !deepSeek.meetsRequiredRank)
        #expect(deepSeek.published.time.expertParallel > deepSeek.published.time.compute)
    }
}
