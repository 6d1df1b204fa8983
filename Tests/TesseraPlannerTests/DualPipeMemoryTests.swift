import Testing
import TesseraParallel
import TesseraPipeline
import TesseraPlanner

/// DualPipe's memory (DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", §3.2.1, Table 2): rank r holds stage r,
/// which the micro-batches from the front reach r-th, and stage p − 1 − r, which those from the back reach
/// (p − 1 − r)-th, so p − r micro-batches of the first and r + 1 of the second, p + 1 in all.
@Suite struct DualPipeMemoryTests {
    let catalog = try! Catalog.bundled()

    /// DeepSeek-V3's published mesh (pp 16, ep 64, dp 128, ZeRO-1) under its software's state precision.
    func deepSeek() throws -> (TrainingCostModel, TrainingLayout) {
        let job = TrainingJob(
            model: try catalog.model(named: "deepseek-v3"), accelerator: try catalog.accelerator(named: "h800"),
            devices: 2048, sequenceLength: 4096, globalBatchSize: 15_360, computeFormat: .fp8)
        var layout = TrainingLayout(tp: 1, pp: 16, dp: 128, ep: 64, microBatchSize: 1, schedule: .oneForwardOneBackward,
                                    recompute: .none, zeroStage: 1, overlap: .all, expertDispatch: .nodeForwarded)
        (layout.dualPipe, layout.lowPrecisionActivations) = (true, true)
        return (TrainingCostModel(job: job, space: SoftwareProfile.deepSeekV3.space), layout)
    }

    /// 61 layers and the multi-token-prediction module, 62 blocks, over 16 stages: 4 slots each for stages 0 to 12
    /// and 15 (the first, the last, then the second onwards take the 14 extra slots), 3 for stages 13 and 14; the
    /// module takes one of stage 15's, which keeps 3 layers.
    static let stageStarts: [Int] = {
        var starts = [0]
        for stage in 0..<16 { starts.append(starts.last! + ((13...15).contains(stage) ? 3 : 4)) }
        return starts
    }()

    func held(_ r: Int) -> [HeldStage] {
        let s = Self.stageStarts, back = 15 - r
        return [HeldStage(layers: s[r]..<s[r + 1], embedding: r == 0, head: false, inFlight: Double(16 - r)),
                HeldStage(layers: s[back]..<s[back + 1], embedding: false, head: r == 0, inFlight: Double(r + 1))]
    }

    /// Each rank's activations against a hand count from the per-layer bytes (FP8 recipe, 4096 tokens), plus the
    /// head's and the prediction module's FP32 logits and the module's block on rank 0; the fullest rank is what the
    /// memory model reports.
    @Test func ranksHoldTheirOwnMicroBatchesOfEachStage() throws {
        let (cost, layout) = try deepSeek()
        let model = cost.job.model
        let tokens = 4096.0
        func stageBytes(_ layers: Range<Int>) -> Double {
            layers.reduce(0) { sum, l in
                let c = model.compactActivationBytesPerLayer(layer: l, tokens: tokens)
                return sum + c.replicated + c.split
            }
        }
        let logits = 2 * 2 * tokens * 7168 + 4 * tokens * 129_280
        // With the head, rank 0 runs the multi-token-prediction module (slot 61, after the last layer) for the one
        // micro-batch of its back stage, and keeps its logits too.
        let module = stageBytes(61..<62)
        let m = 15_360 / 128
        var fullest = 0.0
        for r in 0..<8 {
            let stages = held(r)
            let hand = stages.reduce(0) { $0 + $1.inFlight * stageBytes($1.layers) } + (r == 0 ? 2 * logits + module : 0)
            let memory = cost.rankMemory(layout, holding: stages, microBatches: m)
            #expect(abs(memory.activations - hand) <= 1e-9 * hand, "rank \(r)")
            #expect(stages[0].inFlight + stages[1].inFlight == 17)
            fullest = max(fullest, memory.total)
        }
        #expect(cost.memory(layout).total == fullest)
    }

    /// The rule this replaced, p + 1 micro-batches of the heavier of rank 0's stages, is caught: it charges about
    /// 11 GB more, which puts the published mesh over the usable 90 % of an H800; split by position it fits.
    @Test func theHeavierStageRuleIsCaught() throws {
        let (cost, layout) = try deepSeek()
        var heavier = held(0)
        (heavier[0].inFlight, heavier[1].inFlight) = (0, 17)
        let old = cost.rankMemory(layout, holding: heavier, microBatches: 120)
        let now = cost.memory(layout)
        #expect(old.total > cost.usableMemory && now.total <= cost.usableMemory, "\(old.total) \(now.total)")
        #expect(old.activations > now.activations + 8e9)
        #expect(old.weights == now.weights && old.gradients == now.gradients, "rank 0 is the fullest")
    }
}
