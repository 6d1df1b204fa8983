import Testing
import TesseraPipeline
import TesseraPlanner

/// Shared experts are a dense MLP split over the dense layers' tp ranks whatever the routed experts' etp is
/// (Megatron-Core's `SharedExpertMLP` on the tp group; DeepSeek's `inference/model.py` builds them as its
/// column/row-parallel `MLP`), so each MoE block pays one all-gather/reduce-scatter pair of its own over tp per pass.
@Suite struct SharedExpertTensorParallelTests {
    let catalog = try! Catalog.bundled()

    /// DeepSeek-V3 on 16 H800s without a pipeline; `shared: false` drops its shared expert.
    func cost(shared: Bool) throws -> TrainingCostModel {
        var model = try catalog.model(named: "deepseek-v3")
        if !shared { model.moe?.sharedFFNSize = 0 }
        return TrainingCostModel(job: TrainingJob(
            model: model, accelerator: try catalog.accelerator(named: "h800"), devices: 16, sequenceLength: 4096,
            globalBatchSize: 16))
    }

    func layout(tp: Int = 2, etp: Int?, overlapped: Bool = false) -> TrainingLayout {
        var layout = TrainingLayout(tp: tp, pp: 1, dp: 16 / tp, ep: 8, microBatchSize: 1, schedule: nil, recompute: .none,
                                    zeroStage: 1, expertTensorParallel: etp)
        layout.overlap = overlapped ? .denseAxes : .none
        return layout
    }

    func tensorParallel(_ cost: TrainingCostModel, _ layout: TrainingLayout) -> Double {
        cost.estimate(layout, bubble: ClosedFormBubble()).time.tensorParallel
    }

    /// Without overlap every pair costs the same over the same tp group, so the shared expert adds to an MoE block's
    /// tp time exactly what splitting its routed experts over tp (etp = tp) adds: one pair forward, one backward.
    /// The old model charged the shared expert nothing (difference 0).
    @Test func sharedExpertAddsOnePairPerMoEBlock() throws {
        let with = try cost(shared: true), without = try cost(shared: false)
        let sharedPair = tensorParallel(with, layout(etp: 1)) - tensorParallel(without, layout(etp: 1))
        let expertPair = tensorParallel(without, layout(etp: nil)) - tensorParallel(without, layout(etp: 1))
        #expect(sharedPair > 0 && expertPair > 0)
        #expect(abs(sharedPair / expertPair - 1) < 1e-9, "shared \(sharedPair), routed experts' pair \(expertPair)")
        let both = tensorParallel(with, layout(etp: nil)) - tensorParallel(with, layout(etp: 1))
        #expect(abs(both / expertPair - 1) < 1e-9)
    }

    /// Overlapped (`--tp-comm-overlap`, one node) the shared expert's pair hides behind its own products only: at
    /// tp 8 an eighth of a 7168 × 2048 SwiGLU over 4096 tokens (0.07 ms forward at 65 % of the BF16 peak) against a
    /// 0.64 ms pair, so most of it stays exposed; behind half a layer's products it would shrink to one chunk each
    /// pass, a quarter of the full cost at most.
    @Test func overlappedSharedPairHidesBehindItsOwnProducts() throws {
        let with = try cost(shared: true), without = try cost(shared: false)
        let full = tensorParallel(with, layout(tp: 8, etp: 1)) - tensorParallel(without, layout(tp: 8, etp: 1))
        let exposed = tensorParallel(with, layout(tp: 8, etp: 1, overlapped: true))
            - tensorParallel(without, layout(tp: 8, etp: 1, overlapped: true))
        #expect(exposed > full / 2 && exposed < full, "exposed \(exposed) of \(full)")
    }
}
