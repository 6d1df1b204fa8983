import Foundation
import Testing
import TesseraCollectives
import TesseraParallel
import TesseraPipeline

/// Every invalid combination of ``ParallelConfig`` is a typed error that names the valid choices.
struct ParallelConfigTests {
    @Test(arguments: [(LayoutParameter.dp, 0), (.pp, -1), (.tp, 0), (.microBatchSize, 0), (.virtualStages, 0)])
    func axesMustBePositive(parameter: LayoutParameter, value: Int) {
        #expect(throws: ParallelConfigError.axisTooSmall(parameter: parameter, value: value)) {
            switch parameter {
            case .dp: _ = try ParallelConfig(dp: value)
            case .pp: _ = try ParallelConfig(pp: value)
            case .tp: _ = try ParallelConfig(tp: value)
            case .microBatchSize: _ = try ParallelConfig(microBatchSize: value)
            default: _ = try ParallelConfig(pipeline: .init(schedule: .interleaved, virtualStages: value))
            }
        }
    }

    /// Library messages name settings by their property and carry no flag; a front end's vocabulary (here one
    /// shaped like the CLI's) words the same message with its own names, every setting replaced.
    @Test func messagesNameTheSettingInTheCallersTerms() {
        let flag: @Sendable (String) -> String = { "--" + (LayoutParameter(name: $0)?.rawValue ?? $0) }
        let flags = SettingVocabulary(name: flag, setting: { "\(flag($0)) \($1)" })
        let errors: [(ParallelConfigError, library: String, flagged: String)] = [
            (.axisTooSmall(parameter: .virtualStages, value: 0), "pipeline.virtualStages = 0 is invalid",
             "--virtualStages 0 is invalid"),
            (.virtualStagesNeedInterleaving(schedule: .gpipe, virtualStages: 2),
             "use pipeline.schedule = interleaved or pipeline.virtualStages = 1",
             "use --schedule interleaved or --virtualStages 1"),
            (.interleavingNeedsStages, "needs pp = 2 or more", "needs --pp 2 or more"),
            (.recomputationWithSplitBackward(schedule: .zeroBubbleH1, recompute: .full),
             "memory.recompute = full rebuilds", "use --recompute none with zb-h1"),
            (.sequenceParallelNeedsTensorParallel, "sequenceParallel: sequence parallelism", "use it with --tp 2 or more"),
            (.invalidLayout(layout: [5, 6], reason: "x"), "pipeline.layout = 5,6 is invalid: x", "--pipelineLayout 5,6 is"),
            (.invalidOption(option: LayoutParameter.zeroStage.name, value: "2", valid: "0 or 1"),
             "memory.zeroStage = 2 is invalid; use 0 or 1", "--zeroStage 2 is invalid"),
            (.batchDoesNotSplit(globalBatch: 8, dp: 2, microBatchSize: 3, validMicroBatchSizes: [1, 2, 4]),
             "use microBatchSize ∈ {1, 2, 4}", "use --microBatchSize ∈ {1, 2, 4}"),
        ]
        for (error, library, flagged) in errors {
            #expect(error.description.contains(library) && !error.description.contains("--"), "\(error)")
            let worded = error.message(naming: flags)
            #expect(worded.contains(flagged), "\(worded)")
            #expect(!LayoutParameter.allCases.contains { $0 != .sequenceParallel && worded.contains($0.name + " =") }, "\(worded)")
        }
    }

    /// The rank order as a pure function: tp fastest, then cp, then dp (ep carved out of dp × cp), then pp;
    /// worked by hand for tp=2 cp=2 dp=2 pp=2 ep=4 (16 ranks), and equal to the mesh the groups are built on.
    @Test func rankLayoutIsTensorThenContextThenDataThenPipeline() throws {
        let config = try ParallelConfig(dp: 2, pp: 2, tp: 2, cp: 2, ep: 4)
        #expect(config.ranks == 16)
        let layout = config.rankLayout
        #expect(layout.map(\.tp) == Array(repeating: [0, 1], count: 8).flatMap { $0 })
        #expect(layout.map(\.cp) == Array(repeating: [0, 0, 1, 1], count: 4).flatMap { $0 })
        #expect(layout.map(\.dp) == Array(repeating: [0, 0, 0, 0, 1, 1, 1, 1], count: 2).flatMap { $0 })
        #expect(layout.map(\.pp) == Array(repeating: 0, count: 8) + Array(repeating: 1, count: 8))
        // j = cp + 2·dp runs 0…3 within each (tp, pp): with ep = 4 it is the expert rank, and one expert-data replica.
        #expect(layout[6] == RankPosition(rank: 6, tp: 0, cp: 1, dp: 1, pp: 0, ep: 3, expertData: 0))
        #expect(layout.allSatisfy { $0.expertData == 0 })
        let mesh = try config.deviceMesh()
        for position in layout {
            #expect(mesh.rank(at: MeshCoordinate(tp: position.tp, cp: position.cp, dp: position.dp, pp: position.pp)) == position.rank)
        }
        #expect(config.description.hasPrefix("dp=2 pp=2 tp=2 cp=2 ep=4"))
    }

    @Test func expertParallelismMustDivideDataTimesContext() throws {
        #expect(throws: ParallelConfigError.self) { try ParallelConfig(dp: 3, ep: 2) }
        do {
            _ = try ParallelConfig(dp: 2, cp: 3, ep: 4)
            Issue.record("ep=4 with dp × cp = 6 must fail")
        } catch {
            #expect("\(error)".contains("1, 2, 3, 6"))
        }
        #expect(try ParallelConfig(dp: 2, cp: 3, ep: 6).ranks == 6)
    }

    @Test func productMustEqualTheRanks() throws {
        let config = try ParallelConfig(dp: 2, pp: 2, tp: 2)
        #expect(config.ranks == 8)
        try config.validate(ranks: 8)
        do {
            try config.validate(ranks: 4)
            Issue.record("dp=2 pp=2 tp=2 on 4 ranks must fail")
        } catch let error as ParallelConfigError {
            guard case let .rankCountMismatch(_, required, ranks, suggestions) = error else { Issue.record("\(error)"); return }
            #expect(required == 8 && ranks == 4)
            #expect(suggestions.contains("dp=1 pp=2 tp=2"))
            #expect("\(error)".contains("needs 8 ranks but the job has 4"))
        }
    }

    @Test func layersMustFillEveryChunk() throws {
        let config = try ParallelConfig(pp: 4, pipeline: .init(schedule: .interleaved, virtualStages: 2))
        #expect(throws: ParallelConfigError.layersDoNotSplit(layers: 6, pp: 4, virtualStages: 2, validStages: [1, 2, 3])) {
            try config.validate(layers: 6)
        }
        try config.validate(layers: 8)
        let error = ParallelConfigError.layersDoNotSplit(layers: 6, pp: 4, virtualStages: 2, validStages: [1, 2, 3])
        #expect("\(error)".contains("use pp ∈ {1, 2, 3} with v=2"))
    }

    @Test func explicitLayoutsMustFit() throws {
        #expect(throws: ParallelConfigError.self) { _ = try ParallelConfig(pp: 4, pipeline: .init(layout: [5, 6, 6])) }
        #expect(throws: ParallelConfigError.self) { _ = try ParallelConfig(pp: 2, pipeline: .init(layout: [0, 4])) }
        let config = try ParallelConfig(pp: 4, pipeline: .init(layout: [5, 6, 6, 5]))
        try config.validate(layers: 22)
        do {
            try config.validate(layers: 24)
            Issue.record("a layout summing to 22 must not fit 24 layers")
        } catch {
            #expect("\(error)".contains("the counts sum to 22 but the model has 24 layers"))
        }
        #expect(try config.partition(layers: 22).layers == [0..<5, 5..<11, 11..<17, 17..<22])
    }

    @Test func globalBatchMustSplitOverDataParallelMicroBatches() throws {
        let config = try ParallelConfig(dp: 2, microBatchSize: 3)
        #expect(throws: ParallelConfigError.batchDoesNotSplit(globalBatch: 8, dp: 2, microBatchSize: 3, validMicroBatchSizes: [1, 2, 4])) {
            try config.validate(globalBatchSize: 8, sequenceLength: 16)
        }
        try config.validate(globalBatchSize: 12, sequenceLength: 16)
        #expect(config.microBatches(globalBatchSize: 12) == 2)
        let error = ParallelConfigError.batchDoesNotSplit(globalBatch: 8, dp: 2, microBatchSize: 3, validMicroBatchSizes: [1, 2, 4])
        #expect("\(error)".contains("microBatchSize ∈ {1, 2, 4}"))
    }

    @Test func virtualStagesNeedTheInterleavedSchedule() {
        for schedule in [PipelineScheduleKind.gpipe, .oneForwardOneBackward, .zeroBubbleH1] {
            #expect(throws: ParallelConfigError.self) { _ = try ParallelConfig(pp: 2, pipeline: .init(schedule: schedule, virtualStages: 2)) }
        }
    }

    @Test func interleavingNeedsTwoStagesAndAMultipleOfThemInMicroBatches() throws {
        do {
            _ = try ParallelConfig(pipeline: .init(schedule: .interleaved, virtualStages: 2))
            Issue.record("interleaving on one stage must fail")
        } catch let error as ParallelConfigError {
            #expect("\(error)".contains("needs pp = 2 or more"))
        }
        let config = try ParallelConfig(pp: 4, pipeline: .init(schedule: .interleaved, virtualStages: 2))
        do {
            try config.validate(globalBatchSize: 6, sequenceLength: 8)
            Issue.record("6 micro-batches on 4 interleaved stages must fail")
        } catch let error as ParallelConfigError {
            guard case .scheduleNeeds(.interleaved, _) = error else { Issue.record("\(error)"); return }
            #expect("\(error)".contains("must be a multiple of pp=4"))
        }
        try config.validate(globalBatchSize: 8, sequenceLength: 8)
        #expect(try config.schedule(microBatches: 8).virtualStages == 2)
    }

    @Test(arguments: [Recomputation.selective, .full])
    func splitBackwardCannotRecompute(_ recompute: Recomputation) {
        #expect(throws: ParallelConfigError.self) {
            _ = try ParallelConfig(pp: 2, pipeline: .init(schedule: .zeroBubbleH1), memory: .init(recompute: recompute))
        }
    }

    @Test func sequenceParallelismNeedsTensorParallelismAndDivisibleTokens() throws {
        #expect(throws: ParallelConfigError.self) { _ = try ParallelConfig(sequenceParallel: true) }
        let config = try ParallelConfig(tp: 4, sequenceParallel: true, microBatchSize: 1)
        #expect(throws: ParallelConfigError.self) { try config.validate(globalBatchSize: 4, sequenceLength: 6) }
        try config.validate(globalBatchSize: 4, sequenceLength: 8)
    }

    @Test func zeroStageIsZeroOrOne() {
        do {
            _ = try ParallelConfig(dp: 2, memory: .init(zeroStage: 2))
            Issue.record("ZeRO stage 2 must fail")
        } catch {
            #expect("\(error)" == "memory.zeroStage = 2 is invalid; use 0 (replicated optimizer) or 1 (AdamW moments sharded over dp)")
        }
    }

    @Test func roundTripsThroughJSONAndValidatesWhenDecoded() throws {
        let config = try ParallelConfig(dp: 2, pp: 2, tp: 2, sequenceParallel: true, microBatchSize: 2,
                                        pipeline: .init(schedule: .interleaved, virtualStages: 2, layout: [1, 2, 2, 1]),
                                        memory: .init(recompute: .selective, zeroStage: 1))
        let data = try JSONEncoder().encode(config)
        #expect(try JSONDecoder().decode(ParallelConfig.self, from: data) == config)
        let invalid = Data(#"{"dp": 2, "memory": {"recompute": "none", "zeroStage": 3, "bucketElements": 16}}"#.utf8)
        #expect(throws: ParallelConfigError.self) { _ = try JSONDecoder().decode(ParallelConfig.self, from: invalid) }
        #expect(try JSONDecoder().decode(ParallelConfig.self, from: Data("{}".utf8)) == ParallelConfig())
    }
}
