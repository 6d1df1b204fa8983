import Testing
import TesseraCollectives
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

    /// OLMoE: query/key norms over every head (so tp = 1), top-2 without renormalization.
    static let olmoe: TransformerConfig = {
        var config = TransformerConfig(family: .olmoe, vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4,
                                       kvHeads: 2, intermediateSize: 24, tiedEmbeddings: false)
        config.moe = .init(router: RouterConfiguration(experts: 4, topK: 2, normalizesTopK: false, includesAuxiliaryLoss: true,
                                                       auxiliaryLossCoefficient: 0.1, zLossCoefficient: 0.01), expertIntermediateSize: 24)
        return config
    }()

    static let models = ["mixtral": mixtral, "qwen2_moe": qwen2MoE, "olmoe": olmoe]
    static let references = models.mapValues { try! MeshHarness.train($0, ParallelConfig(microBatchSize: globalBatch), globalBatch: globalBatch) }

    @Test(arguments: ["mixtral", "qwen2_moe"], [(2, 1), (1, 2), (2, 2), (4, 1)])
    func layoutsMatchSingleDevice(_ model: String, layout: (dp: Int, tp: Int)) throws {
        let parallel = try ParallelConfig(dp: layout.dp, tp: layout.tp, microBatchSize: Self.globalBatch / layout.dp)
        MeshTolerance.check(try MeshHarness.train(Self.models[model]!, parallel, globalBatch: Self.globalBatch), against: Self.references[model]!)
    }

    /// The training moves the weights and the router losses matter: without them the run differs.
    @Test func theRouterLossesMoveTheTraining() throws {
        var plain = Self.mixtral
        plain.moe?.router.includesAuxiliaryLoss = false
        plain.moe?.router.zLossCoefficient = 0
        let run = try MeshHarness.train(plain, ParallelConfig(microBatchSize: Self.globalBatch), globalBatch: Self.globalBatch)
        #expect(MeshHarness.maxParameterDifference(run, Self.references["mixtral"]!) > 10 * MeshTolerance.parameter)
    }

    /// Without router losses a pipeline may split the model (the routers of different stages no longer interact):
    /// pp = 2, with dp and ep too, equals one device.
    @Test(arguments: [(1, 1), (2, 2)])
    func pipelinesWithoutRouterLossesMatch(dp: Int, ep: Int) throws {
        var plain = Self.mixtral
        plain.moe?.router.includesAuxiliaryLoss = false
        plain.moe?.router.zLossCoefficient = 0
        let reference = try Self.trainGathered(plain, ParallelConfig(microBatchSize: Self.globalBatch))
        let parallel = try ParallelConfig(dp: dp, pp: 2, ep: ep, microBatchSize: Self.globalBatch / dp)
        MeshTolerance.check(try Self.trainGathered(plain, parallel), against: reference)
    }

    /// With router losses, the pipeline carries the router statistics forward and their gradient coefficients back:
    /// pp = 2 alone (one micro-batch, or two in flight) and with dp × ep equals one device with the same micro-batches.
    @Test(arguments: [(1, 1, 4), (1, 1, 2), (2, 2, 2)])
    func pipelinesWithRouterLossesMatch(dp: Int, ep: Int, microBatchSize: Int) throws {
        let reference = try Self.trainGathered(Self.mixtral, ParallelConfig(microBatchSize: microBatchSize * dp))
        let parallel = try ParallelConfig(dp: dp, pp: 2, ep: ep, microBatchSize: microBatchSize)
        MeshTolerance.check(try Self.trainGathered(Self.mixtral, parallel), against: reference)
    }

    /// Non-vacuity: stages that keep their own layers' router statistics (nothing carried along the pipeline) give
    /// other losses and parameters.
    @Test func stageLocalRouterStatisticsAreCaught() throws {
        let reference = try Self.trainGathered(Self.mixtral, ParallelConfig(microBatchSize: Self.globalBatch))
        let run = try Self.trainGathered(Self.mixtral, ParallelConfig(pp: 2, microBatchSize: Self.globalBatch),
                                         synchronization: GradientSynchronization.all.subtracting(.routerStatistics))
        #expect(MeshHarness.maxRelativeDifference(run.losses, reference.losses) > 10 * MeshTolerance.loss)
        #expect(MeshHarness.maxParameterDifference(run, reference) > 10 * MeshTolerance.parameter)
    }

    /// Non-vacuity: per-rank router statistics (not summed over dp) change the objective and the gradients.
    @Test(arguments: [1, 2])
    func perRankRouterStatisticsAreCaught(ep: Int) throws {
        let parallel = try ParallelConfig(dp: 2, ep: ep, microBatchSize: Self.globalBatch / 2)
        let run = try Self.trainGathered(Self.mixtral, parallel, synchronization: GradientSynchronization.all.subtracting(.routerStatistics))
        let reference = Self.references["mixtral"]!
        #expect(MeshHarness.maxRelativeDifference(run.losses, reference.losses) > 10 * MeshTolerance.loss)
        #expect(MeshHarness.maxParameterDifference(run, reference) > 10 * MeshTolerance.parameter)
    }

    /// What the engine refuses for mixture-of-experts models, with the fix (more in MixtureOfExpertsLayoutTests).
    @Test func unsupportedLayoutsAreRefused() throws {
        #expect(throws: ModelError.invalidConfiguration(
            field: "tp", reason: "4 does not divide the 2 key/value heads, so ranks would share key heads, but olmoe normalizes its whole key projection (k_norm sums every key head once); use tp ∈ {1, 2}")) {
            try MeshEngine(config: Self.olmoe, parallel: ParallelConfig(tp: 4), groups: nil, seed: 1)
        }
    }
}


/// Expert parallelism (ep ∈ {2, 4}, carved out of dp) with tp: the same runs as ep = 1, every parameter gathered from
/// the ranks holding its expert (``MeshEngine/fullParameters()``); a dispatch that sends tokens to the wrong expert rank
/// is caught.
extension MixtureOfExpertsEquivalenceTests {
    /// Trains like ``MeshHarness/train(_:_:globalBatch:steps:clip:mappings:synchronization:pool:learningRate:)`` and
    /// gathers every parameter with the engine (experts over ep), from world rank 0.
    static func trainGathered(_ config: TransformerConfig, _ parallel: ParallelConfig,
                              synchronization: GradientSynchronization = .all) throws -> MeshRun {
        try ThreadGroup.run(ranks: parallel.ranks, deadline: .seconds(60)) { world -> MeshRun in
            let groups = parallel.ranks == 1 ? nil : try ProcessGroups(world: world, mesh: parallel.deviceMesh())
            let engine = try MeshEngine(config: config, parallel: parallel, groups: groups, seed: 11, optimizer: MeshHarness.optimizer,
                                        synchronization: synchronization)
            var run = MeshRun()
            for step in 0..<5 {
                let batches = MeshHarness.microBatches(step: step, globalBatch: globalBatch, parallel: parallel,
                                                       dataRank: groups?.coordinate.dp ?? 0, vocabulary: config.vocabularySize)
                let report = try engine.trainStep(batches, learningRate: MeshHarness.learningRate, maxGradientNorm: 1.0,
                                                  globalTokens: globalBatch * MeshHarness.sequenceLength)
                run.losses.append(report.loss)
                run.norms.append(report.gradientNorm)
            }
            for (name, tensor) in try engine.fullParameters() { run.parameters[name] = tensor.scalars }
            return run
        }[0]
    }

    @Test(arguments: ["mixtral", "qwen2_moe"], [(2, 2, 1), (4, 2, 1), (4, 4, 1), (2, 2, 2), (4, 4, 2)])
    func expertParallelLayoutsMatchSingleDevice(_ model: String, layout: (dp: Int, ep: Int, tp: Int)) throws {
        let parallel = try ParallelConfig(dp: layout.dp, tp: layout.tp, ep: layout.ep, microBatchSize: Self.globalBatch / layout.dp)
        MeshTolerance.check(try Self.trainGathered(Self.models[model]!, parallel), against: Self.references[model]!)
    }

    /// Forced load balance (a benchmark's router option; 8-token sequences, top-2 of 4 experts: every expert gets a
    /// quarter of the assignments): dp 2 × ep 2, with tp 2 under sequence parallelism, and dp 2 × cp 2 × ep 2 equal one
    /// device with the same option; the option reaches the router (the run differs from the learned router's).
    @Test(arguments: [(2, 1, 1, false), (2, 1, 2, true), (2, 2, 1, false)])
    func forcedBalanceLayoutsMatchSingleDevice(dp: Int, cp: Int, tp: Int, sequenceParallel: Bool) throws {
        var forced = Self.mixtral
        forced.moe?.router.forcesLoadBalance = true
        let reference = try Self.trainGathered(forced, ParallelConfig(microBatchSize: Self.globalBatch))
        #expect(MeshHarness.maxParameterDifference(reference, Self.references["mixtral"]!) > 10 * MeshTolerance.parameter)
        let parallel = try ParallelConfig(dp: dp, tp: tp, cp: cp, ep: 2, sequenceParallel: sequenceParallel, microBatchSize: Self.globalBatch / dp)
        MeshTolerance.check(try Self.trainGathered(forced, parallel), against: reference)
    }

    /// The shared expert run after the experts' all-to-all instead of during it (`overlapsSharedExpert` off, as
    /// `bench moe`'s comparison row runs it) trains the same: dp 2 × ep 2 equals one device.
    @Test func theSharedExpertWithoutItsOverlapMatchesSingleDevice() throws {
        var blocking = Self.qwen2MoE
        blocking.moe?.overlapsSharedExpert = false
        let parallel = try ParallelConfig(dp: 2, ep: 2, microBatchSize: Self.globalBatch / 2)
        MeshTolerance.check(try Self.trainGathered(blocking, parallel), against: Self.references["qwen2_moe"]!)
    }

    /// OLMoE (query/key norms whose sums are all-reduced over tp) with tp = 2, ep = 2 and 4 carved out of dp, and both.
    @Test(arguments: [(2, 1, 1), (2, 2, 1), (4, 4, 1), (1, 1, 2), (2, 2, 2)])
    func olmoeLayoutsMatchSingleDevice(dp: Int, ep: Int, tp: Int) throws {
        let parallel = try ParallelConfig(dp: dp, tp: tp, ep: ep, microBatchSize: Self.globalBatch / dp)
        MeshTolerance.check(try Self.trainGathered(Self.olmoe, parallel), against: Self.references["olmoe"]!)
    }
}
