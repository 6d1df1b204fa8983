import Testing
import TesseraPipeline
import TesseraPlanner

/// The matrices tensor parallelism keeps whole on every rank (``ModelArchitecture/unsplitMatrixParameters(_:)``):
/// DeepSeek-V3's latent down-projections and routers, counted by hand, in memory and in time, each against the old
/// rule that split every dense parameter over tp.
@Suite struct UnsplitParametersTests {
    let catalog = try! Catalog.bundled()

    /// h 7168, query rank 1536, key/value rank 512 with a 64-wide rotary key, 256 routed experts.
    let latent = 7168.0 * 1536 + 7168.0 * (512 + 64)
    let router = 7168.0 * 256

    @Test func latentProjectionsAndRoutersByHand() throws {
        let model = try catalog.model(named: "deepseek-v3")
        #expect(latent == 15_138_816 && router == 1_835_008)
        #expect(model.unsplitMatrixParameters(0) == latent)  // a dense layer
        #expect(model.unsplitMatrixParameters(3) == latent + router)  // the first MoE layer
        #expect(model.unsplitMatrixParameters(61) == latent + router)  // the prediction module's block
        #expect(try catalog.model(named: "llama-3-8b").unsplitMatrixParameters(0) == 0)
        #expect(try catalog.model(named: "mixtral-8x7b").unsplitMatrixParameters(0) == 4096 * 8)
    }

    func job(_ format: ComputeFormat) throws -> TrainingJob {
        TrainingJob(model: try catalog.model(named: "deepseek-v3"), accelerator: try catalog.accelerator(named: "h800"),
                    devices: 16, sequenceLength: 4096, globalBatchSize: 16, computeFormat: format)
    }

    func layout(tp: Int, sequenceParallel: Bool = true) -> TrainingLayout {
        TrainingLayout(tp: tp, pp: 1, dp: 16 / tp, ep: 8, microBatchSize: 1, schedule: nil, recompute: .none,
                       zeroStage: 1, sequenceParallel: sequenceParallel, expertTensorParallel: 1)
    }

    /// Weights at 2 bytes per parameter: tp 1 holds all D dense parameters, tp 2 (D − W)/2 + W, so going to tp 2
    /// saves D − W bytes with W the 61 layers' and the module's unsplit matrices (62 latent pairs, 59 routers:
    /// 1,046,872,064). The old rule saved D.
    @Test func eachTensorParallelRankHoldsThemWhole() throws {
        let model = try catalog.model(named: "deepseek-v3")
        let whole = 62 * latent + 59 * router
        #expect(whole == 1_046_872_064)
        var dense = model.embeddingParameters + model.outputParameters + model.finalNormParameters
            + model.predictionModuleParameters(0).dense
        for index in 0..<model.layers { dense += model.layerParameters(index).dense }
        let cost = TrainingCostModel(job: try job(.bf16))
        let saved = cost.memory(layout(tp: 1)).weights - cost.memory(layout(tp: 2)).weights
        #expect(abs(saved - (dense - whole)) < 1, "saved \(saved), expected \(dense - whole), old rule \(dense)")
        #expect(abs(saved - dense) > 1e9)
    }

    /// Only the layers' products change rate between BF16 and FP8 (the head and the attention core stay BF16), so
    /// the compute that FP8 saves is proportional to the matrix parameters a tp rank multiplies each token through:
    /// without sequence parallelism (M − W)/2 + W, with it M/2 (each rank projects its half of the tokens). Their
    /// ratio is (M + W)/M, about 1.027 for DeepSeek-V3; the old rule gave 1.
    @Test func withoutSequenceParallelEveryRankMultipliesThem() throws {
        let model = try catalog.model(named: "deepseek-v3")
        let whole = 62 * latent + 59 * router
        var active = model.predictionModuleActiveMatrices(0)
        for index in 0..<model.layers { active += model.activeMatrixParameters(index) }
        func fp8Saving(sequenceParallel: Bool) throws -> Double {
            let given = layout(tp: 2, sequenceParallel: sequenceParallel)
            func compute(_ format: ComputeFormat) throws -> Double {
                TrainingCostModel(job: try job(format)).estimate(given, bubble: ClosedFormBubble()).time.compute
            }
            return try compute(.bf16) - compute(.fp8)
        }
        let ratio = try fp8Saving(sequenceParallel: false) / fp8Saving(sequenceParallel: true)
        #expect(abs(ratio - (active + whole) / active) < 1e-9, "\(ratio) against \((active + whole) / active)")
        #expect(ratio > 1.02)
    }
}
