import Testing
import TesseraModels
import TesseraParallel

/// Mixture-of-experts training on dp × tp layouts (ep = 1) against the single-device run, with the load-balancing
/// loss (coefficient 0.1) and the z-loss (0.01) in the objective, capacity drops in Qwen2-MoE: 5 AdamW steps, within
/// ``MeshTolerance``. The router losses are a micro-batch's: a step is one micro-batch of 4 sequences, split over dp
/// (4 / dp sequences per rank), and the router statistics are summed over dp, so each rank's losses are those of all 4
/// sequences; a run whose ranks keep their own statistics fails the same check.
@Suite(.serialized) struct MixtureOfExpertsEquivalenceTests {
    static let globalBatch = 4

    /// Mixtral: 4 experts, top-2 renormalized.
    static let mixtral: TransformerConfig = {
        var config = TransformerConfig(family: .mixtral, vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4,
                                       kvHeads: 2, intermediateSize: 32, tiedEmbeddings: false)
        config.moe = .init(router: RouterConfiguration(experts: 4, topK: 2, normalizesTopK: true, includesAuxiliaryLoss: true,
                                                       auxiliaryLossCoefficient: 0.1, zLossCoefficient: 0.01), expertIntermediateSize: 32)
        return config
    }()

    /// Qwen2-MoE: top-2 without renormalization, a shared expert, capacity 1.0 (drops within each sequence).
    static let qwen2MoE: TransformerConfig = {
        var config = TransformerConfig(family: .qwen2MoE, vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4,
                                       kvHeads: 2, intermediateSize: 64, tiedEmbeddings: true)
        config.moe = .init(router: RouterConfiguration(experts: 4, topK: 2, normalizesTopK: false, capacityFactor: 1.0,
                                                       includesAuxiliaryLoss: true, auxiliaryLossCoefficient: 0.1, zLossCoefficient: 0.01),
                           expertIntermediateSize: 24, sharedExpertIntermediateSize: 48)
        return config
    }()

    static let models = ["mixtral": mixtral, "qwen2_moe": qwen2MoE]
    static let references = models.mapValues { try! MeshHarness.train($0, ParallelConfig(microBatchSize: globalBatch), globalBatch: globalBatch) }

    @Test(arguments: ["mixtral", "qwen2_moe"], [(2, 1), (1, 2), (2, 2), (4, 1)])
    func layoutsMatchSingleDevice(_ model: String, layout: (dp: Int, tp: Int)) throws {
        let parallel = try ParallelConfig(dp: layout.dp, tp: layout.tp, microBatchSize: Self.globalBatch / layout.dp)
        MeshTolerance.check(try MeshHarness.train(Self.models[model]!, parallel, globalBatch: Self.globalBatch), against: Self.references[model]!)
    }

    /// Expert parallelism carved out of dp (alone, with tp, with ZeRO 1): each rank holds `experts / ep` experts, tokens
    /// travel by all-to-all, expert gradients are reduced over the expert-data-parallel group; 5 steps equal one device.
    @Test(arguments: ["mixtral", "qwen2_moe"], [(2, 1, 2, 0), (4, 1, 2, 0), (4, 1, 4, 0), (2, 2, 2, 0), (4, 1, 2, 1)])
    func expertParallelLayoutsMatchSingleDevice(_ model: String, layout: (dp: Int, tp: Int, ep: Int, zeroStage: Int)) throws {
        let parallel = try ParallelConfig(dp: layout.dp, tp: layout.tp, ep: layout.ep, microBatchSize: Self.globalBatch / layout.dp,
                                          memory: .init(zeroStage: layout.zeroStage))
        MeshTolerance.check(try MeshHarness.train(Self.models[model]!, parallel, globalBatch: Self.globalBatch), against: Self.references[model]!)
    }

    /// Non-vacuity for expert parallelism: expert gradients not summed over the expert-data-parallel group (the two
    /// replicas of each expert in dp 4 × ep 2) make the run differ.
    @Test func expertParallelWithoutExpertGradientReductionIsCaught() throws {
        let parallel = try ParallelConfig(dp: 4, ep: 2, microBatchSize: 1)
        let run = try MeshHarness.train(Self.mixtral, parallel, globalBatch: Self.globalBatch,
                                        synchronization: GradientSynchronization.all.subtracting(.expertData))
        #expect(MeshHarness.maxParameterDifference(run, Self.references["mixtral"]!) > 10 * MeshTolerance.parameter)
    }

    /// The training moves the weights and the router losses matter: without them the run differs.
    @Test func theRouterLossesMoveTheTraining() throws {
        var plain = Self.mixtral
        plain.moe?.router.includesAuxiliaryLoss = false
        plain.moe?.router.zLossCoefficient = 0
        let run = try MeshHarness.train(plain, ParallelConfig(microBatchSize: Self.globalBatch), globalBatch: Self.globalBatch)
        #expect(MeshHarness.maxParameterDifference(run, Self.references["mixtral"]!) > 10 * MeshTolerance.parameter)
    }

    /// Non-vacuity: per-rank router statistics (not summed over dp) change the objective and the gradients.
    @Test func perRankRouterStatisticsAreCaught() throws {
        let parallel = try ParallelConfig(dp: 2, microBatchSize: Self.globalBatch / 2)
        let run = try MeshHarness.train(Self.mixtral, parallel, globalBatch: Self.globalBatch,
                                        synchronization: GradientSynchronization.all.subtracting(.routerStatistics))
        let reference = Self.references["mixtral"]!
        #expect(MeshHarness.maxRelativeDifference(run.losses, reference.losses) > 10 * MeshTolerance.loss)
        #expect(MeshHarness.maxParameterDifference(run, reference) > 10 * MeshTolerance.parameter)
    }

    /// What the engine refuses for mixture-of-experts models, with the fix.
    @Test func unsupportedLayoutsAreRefused() throws {
        #expect(throws: ParallelConfigError.invalidOption(option: "--ep", value: "3",
                                                          valid: "a divisor of the 4 experts and of dp × cp = 6: 1, 2")) {
            try MeshEngine(config: Self.mixtral, parallel: ParallelConfig(dp: 6, ep: 3), groups: nil, seed: 1)
        }
        #expect(throws: ParallelConfigError.self) {
            try MeshEngine(config: Self.mixtral, parallel: ParallelConfig(pp: 2), groups: nil, seed: 1)
        }
        #expect(throws: ParallelConfigError.self) {
            try MeshEngine(config: Self.mixtral, parallel: ParallelConfig(tp: 2, sequenceParallel: true), groups: nil, seed: 1)
        }
    }
}

