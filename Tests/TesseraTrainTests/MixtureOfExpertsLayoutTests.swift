import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraPipeline

/// Mixture-of-experts layers with the axes that split sequences (Megatron sequence parallelism, context parallelism)
/// and with experts split over tp (`--expert-tp tp`): 5 AdamW steps with the load-balancing and z-losses on equal one
/// device, within ``MeshTolerance``; rank-local router statistics fail the same checks.
extension MixtureOfExpertsEquivalenceTests {
    /// Qwen2-MoE without capacity drops (capacity over split sequences: MixtureOfExpertsSplitSequenceTests): its
    /// shared expert is a sequence-parallel MLP under sp.
    static let qwen2MoEDropless: TransformerConfig = {
        var config = qwen2MoE
        config.moe?.router.capacityFactor = nil
        return config
    }()

    static let droplessModels = ["mixtral": mixtral, "qwen2_moe": qwen2MoEDropless]
    static let droplessReferences = droplessModels.mapValues {
        try! MeshHarness.train($0, ParallelConfig(microBatchSize: globalBatch), globalBatch: globalBatch)
    }

    /// Sequence parallelism: each tp rank routes and dispatches its own rows; tp 2 alone and with dp 2 × ep 2.
    @Test(arguments: ["mixtral", "qwen2_moe"], [(1, 2, 1), (2, 2, 2)])
    func sequenceParallelLayoutsMatchSingleDevice(_ model: String, layout: (dp: Int, tp: Int, ep: Int)) throws {
        let parallel = try ParallelConfig(dp: layout.dp, tp: layout.tp, ep: layout.ep, sequenceParallel: true,
                                          microBatchSize: Self.globalBatch / layout.dp)
        MeshTolerance.check(try Self.trainGathered(Self.droplessModels[model]!, parallel), against: Self.droplessReferences[model]!)
    }

    /// Context parallelism: a rank's zig-zag chunks go through the router and the experts like a dp rank's tokens; cp 2
    /// alone, with ep 2 carved out of cp, and dp 2 × cp 2 with ep 2.
    @Test(arguments: ["mixtral", "qwen2_moe"], [(1, 2, 1), (1, 2, 2), (2, 2, 2)])
    func contextParallelLayoutsMatchSingleDevice(_ model: String, layout: (dp: Int, cp: Int, ep: Int)) throws {
        let parallel = try ParallelConfig(dp: layout.dp, cp: layout.cp, ep: layout.ep, microBatchSize: Self.globalBatch / layout.dp)
        MeshTolerance.check(try Self.trainGathered(Self.droplessModels[model]!, parallel), against: Self.droplessReferences[model]!)
    }

    /// Non-vacuity: router statistics of the rank's own rows (not summed over tp under sp, nor over cp) change the
    /// objective and the gradients.
    @Test(arguments: [(1, true), (2, false)])
    func rankLocalRouterStatisticsAreCaught(cp: Int, sequenceParallel: Bool) throws {
        let parallel = try ParallelConfig(tp: sequenceParallel ? 2 : 1, cp: cp, sequenceParallel: sequenceParallel,
                                          microBatchSize: Self.globalBatch)
        let run = try Self.trainGathered(Self.mixtral, parallel, synchronization: GradientSynchronization.all.subtracting(.routerStatistics))
        let reference = Self.droplessReferences["mixtral"]!
        #expect(MeshHarness.maxRelativeDifference(run.losses, reference.losses) > 10 * MeshTolerance.loss)
        #expect(MeshHarness.maxParameterDifference(run, reference) > 10 * MeshTolerance.parameter)
    }

    /// `--expert-tp 1|tp` through the engine: tp 2 × ep 2 (dp 2) equals one device with whole experts and with experts
    /// split over tp.
    @Test(arguments: ["mixtral", "qwen2_moe"], ExpertTensorParallelism.allCases)
    func expertTensorParallelismMatchesSingleDevice(_ model: String, experts: ExpertTensorParallelism) throws {
        var parallel = try ParallelConfig(dp: 2, tp: 2, ep: 2, microBatchSize: Self.globalBatch / 2)
        parallel.expertTensorParallelism = experts
        MeshTolerance.check(try Self.trainGathered(Self.models[model]!, parallel), against: Self.references[model]!)
    }

    /// Non-vacuity of the setting: split experts hold `intermediate / tp` features per rank, whole ones all of them.
    @Test(arguments: ExpertTensorParallelism.allCases)
    func theSettingReachesTheExperts(_ experts: ExpertTensorParallelism) throws {
        var layout = try ParallelConfig(tp: 2)
        layout.expertTensorParallelism = experts
        let parallel = layout
        let shapes = try ThreadGroup.run(ranks: 2, deadline: .seconds(60)) { world -> [Int] in
            let groups = try ProcessGroups(world: world, mesh: parallel.deviceMesh())
            let engine = try MeshEngine(config: Self.mixtral, parallel: parallel, groups: groups, seed: 11)
            return engine.model.store.parameters.first(where: \.spec.isExpert)!.spec.localShape
        }
        #expect(shapes[0] == [experts == .split ? 16 : 32, 32])
    }

    /// Router losses with the interleaved (pp 2 × 2 virtual stages of a 4-layer Mixtral) and ZB-H1 schedules, four
    /// micro-batches in flight: the statistics ride forward and the coefficients back across the chunks as with
    /// 1F1B, and the run equals one device with the same micro-batches; stage-local statistics fail the same check.
    @Test(arguments: [PipelineScheduleKind.interleaved, .zeroBubbleH1])
    func pipelineSchedulesWithRouterLossesMatch(_ schedule: PipelineScheduleKind) throws {
        var config = Self.mixtral
        config.layers = 4
        let reference = try Self.trainGathered(config, ParallelConfig(microBatchSize: 1))
        let parallel = try ParallelConfig(pp: 2, microBatchSize: 1,
                                          pipeline: .init(schedule: schedule, virtualStages: schedule == .interleaved ? 2 : 1))
        MeshTolerance.check(try Self.trainGathered(config, parallel), against: reference)
        let stageLocal = try Self.trainGathered(config, parallel, synchronization: GradientSynchronization.all.subtracting(.routerStatistics))
        #expect(MeshHarness.maxParameterDifference(stageLocal, reference) > 10 * MeshTolerance.parameter)
    }

    /// What the engine refuses for mixture-of-experts layouts, each naming the fix.
    @Test func unsupportedExpertLayoutsAreRefused() throws {
        var uneven = Self.mixtral
        uneven.moe?.expertIntermediateSize = 30
        var four = try ParallelConfig(tp: 4)
        four.expertTensorParallelism = .split
        #expect(throws: ExpertError.intermediateNotDivisible(intermediate: 30, tp: 4)) {
            try MeshEngine(config: uneven, parallel: four, groups: nil, seed: 1)
        }
        #expect(throws: ParallelConfigError.invalidOption(option: "ep", value: "4",
                                                          valid: "a divisor of dp × cp = 2 (experts are sharded over ranks carved out of dp × cp): 1, 2")) {
            try ParallelConfig(dp: 1, cp: 2, ep: 4)
        }
        #expect(throws: ParallelConfigError.self) { try ExpertTensorParallelism(named: "2") }
        #expect(try ExpertTensorParallelism(named: "tp") == .split)
        #expect(try ExpertTensorParallelism(named: "1") == .whole)
    }
}
