import Testing
import TesseraParallel
import TesseraPipeline
import TesseraPlanner

/// `--framework` profiles: what each can run, the errors for what it cannot, and layouts read back from text.
@Suite struct SoftwareProfileTests {
    let catalog = try! Catalog.bundled()

    func job(_ model: String, _ gpu: String, gpus: Int, sequence: Int, batch: Int) throws -> TrainingJob {
        TrainingJob(model: try catalog.model(named: model), accelerator: try catalog.accelerator(named: gpu),
                    devices: gpus, sequenceLength: sequence, globalBatchSize: batch)
    }

    @Test func unknownFrameworkListsTheKnownOnes() throws {
        let known = ["megatron-2021", "megatron-2022", "megatron-core", "torchtitan", "llama3", "deepseek-v3"]
        #expect(SoftwareProfile.known.map(\.name) == known)
        #expect(throws: PlannerError.unknownFramework(name: "megatron-2023", known: known)) {
            try SoftwareProfile.named("megatron-2023")
        }
        let message = PlannerError.unknownFramework(name: "deepspeed", known: known).description
        #expect(known.allSatisfy(message.contains) && message.contains("'deepspeed'"))
        #expect(try SoftwareProfile.named("Megatron-Core").name == "megatron-core")
    }

    /// Each profile refuses, with its reason, a layout that needs what it lacks; the same layout passes where the
    /// software has the feature (so the check is not a blanket refusal).
    @Test func profilesSayWhyTheyCannotRunALayout() throws {
        func layout(cp: Int = 1, ep: Int = 1, zero: Int = 0, recompute: Recomputation = .full,
                    schedule: PipelineScheduleKind = .oneForwardOneBackward) -> TrainingLayout {
            TrainingLayout(tp: 2, pp: 2, dp: 4, cp: cp, ep: ep, microBatchSize: 1, schedule: schedule,
                           recompute: recompute, zeroStage: zero)
        }
        func reason(_ profile: SoftwareProfile, _ layout: TrainingLayout) -> String? {
            do { try profile.check(layout); return nil } catch let PlannerError.unsupportedLayout(name, _, why) {
                #expect(name == profile.name)
                return why
            } catch { return "\(error)" }
        }
        #expect(reason(.megatron2021, layout(cp: 2))?.contains("context parallelism came with Megatron-Core") == true)
        #expect(reason(.megatron2021, layout(ep: 2))?.contains("expert parallelism") == true)
        #expect(reason(.megatron2021, layout(recompute: .selective))?.contains("no selective recomputation") == true)
        #expect(reason(.megatron2022, layout(zero: 1))?.contains("no ZeRO stage 1") == true)
        #expect(reason(.megatronCore, layout(schedule: .zeroBubbleH1))?.contains("no zb-h1 schedule") == true)
        #expect(reason(.megatronCore, layout(zero: 2))?.contains("no ZeRO stage 2") == true)
        #expect(reason(.torchtitan, layout(ep: 2, zero: 3))?.contains("Liang et al.") == true)
        #expect(reason(.megatronCore, layout(cp: 2, ep: 2, zero: 1, recompute: .selective)) == nil)
        #expect(reason(.torchtitan, layout(cp: 2, zero: 3)) == nil)
        #expect(reason(.megatron2022, layout(recompute: .selective)) == nil)
        #expect(reason(.llama3, layout(ep: 2, zero: 2))?.contains("no expert parallelism") == true)
        #expect(reason(.llama3, layout(zero: 1))?.contains("no ZeRO stage 1") == true)
        #expect(reason(.llama3, layout(cp: 2, zero: 2)) == nil)
        #expect(reason(.deepSeekV3, layout(cp: 2, ep: 2, zero: 1))?.contains("no context parallelism") == true)
        #expect(reason(.deepSeekV3, layout(ep: 2, zero: 1)) == nil)
        var dualPipe = layout(ep: 2, zero: 1)
        dualPipe.dualPipe = true
        #expect(reason(.deepSeekV3, dualPipe) == nil)
        #expect(reason(.megatronCore, dualPipe)?.contains("no DualPipe schedule") == true)
        var compact = layout(zero: 1, recompute: .none)
        compact.lowPrecisionActivations = true
        #expect(reason(.megatronCore, compact)?.contains("activations in 16 bits") == true)
        let message = PlannerError.unsupportedLayout(framework: "megatron-2021", layout: "tp2 pp2 dp4 cp2", reason: "x")
        #expect(message.description.hasPrefix("megatron-2021 cannot run tp2 pp2 dp4 cp2: x"))
    }

    /// A search under a profile returns only layouts the profile can run, with its features and overlaps.
    @Test(arguments: ["megatron-2021", "megatron-2022", "megatron-core", "torchtitan", "deepseek-v3"])
    func searchStaysInsideTheProfile(name: String) throws {
        let profile = try SoftwareProfile.named(name)
        let job = try job("mixtral-8x7b", "h100", gpus: 32, sequence: 4096, batch: 64)
        let plan = try TrainingSearch.run(job, space: profile.space, keep: 40)
        #expect(!plan.ranked.isEmpty)
        for estimate in plan.ranked {
            try profile.check(estimate.layout)
            #expect(estimate.layout.overlap == profile.space.overlap)
            #expect(estimate.layout.flashAttention == profile.space.flashAttention)
        }
    }

    /// A layout's summary reads back to the same layout under the profile it was searched with.
    @Test func summariesReadBack() throws {
        let job = try job("llama-3-8b", "h100", gpus: 32, sequence: 8192, batch: 64)
        for profile in SoftwareProfile.known + [.everything] {
            for estimate in try TrainingSearch.run(job, space: profile.space, keep: 20).ranked {
                let layout = estimate.layout
                #expect(try TrainingLayout(summary: layout.summary, profile: profile) == layout, "\(layout.summary)")
            }
        }
        let parsed = try TrainingLayout(summary: "tp4 pp2 dp2 cp2 mbs2 interleaved(v4) recompute:none zero1 cp:all-gather",
                                        profile: .megatronCore)
        #expect(parsed.cp == 2 && parsed.virtualStages == 4 && parsed.schedule == .interleaved && parsed.recompute == .none)
        #expect(parsed.contextParallelKind == .allGather && parsed.overlap == .denseAxes && parsed.sequenceParallel)
        #expect(try TrainingLayout(summary: "tp1 pp4 dp2", profile: .megatron2021).schedule == .oneForwardOneBackward)
    }

    @Test(arguments: [("tp8 pp2", "names no dp size"), ("tp8 pp2 dp2 warp9", "cannot read, 'warp9'"),
                      ("tp8 pp2 dp2 recompute:some", "unknown recomputation"), ("tp0 pp1 dp2", "cannot read, 'tp0'"),
                      ("tp2 pp1 dp1 overlap:cp", "unknown overlap"),
                      ("tp2 pp1 dp2 ep2 dispatch:nvshmem", "unknown expert dispatch")])
    func unreadableLayoutsSayWhichWord(text: String, expected: String) {
        do {
            _ = try TrainingLayout(summary: text, profile: .everything)
            Issue.record("accepted '\(text)'")
        } catch let error as PlannerError {
            guard case .invalidLayout = error else { Issue.record("\(error)"); return }
            #expect(error.description.contains(expected), "\(error)")
        } catch { Issue.record("wrong error \(error)") }
    }

    /// `--explain`: the best layout estimated on its own equals the search's; a layout of another GPU count, one that
    /// does not divide the batch, and one the software cannot run are refused with their reasons.
    @Test func explainEstimatesAGivenLayout() throws {
        let job = try job("llama-3-8b", "h100", gpus: 32, sequence: 8192, batch: 64)
        let plan = try TrainingSearch.run(job, space: SoftwareProfile.megatronCore.space, keep: 5)
        let best = plan.ranked[0]
        let again = try TrainingSearch.estimate(best.layout, of: job, profile: .megatronCore)
        #expect(abs(again.stepTime / best.stepTime - 1) < 1e-12 && again.memory == best.memory)
        let given = try TrainingSearch.estimate(
            TrainingLayout(summary: "tp8 pp2 dp2 mbs1 1f1b recompute:full zero1", profile: .megatronCore),
            of: job, profile: .megatronCore)
        #expect(given.stepTime >= best.stepTime)
        let table = best.comparisonTable(with: given, titles: ("best", "given"))
        for term in ["tp communication (exposed)", "pipeline bubble", "dp communication (exposed)", "activations",
                     best.layout.summary, given.layout.summary] {
            #expect(table.contains(term), "\(term)")
        }
        func failure(_ text: String, _ profile: SoftwareProfile) -> String {
            do {
                _ = try TrainingSearch.estimate(TrainingLayout(summary: text, profile: profile), of: job, profile: profile)
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(failure("tp8 pp2 dp4", .megatronCore).contains("uses tp·cp·pp·dp = 64 GPUs; the job has 32"))
        #expect(failure("tp8 pp2 dp2 mbs3", .megatronCore).contains("does not divide the batch"))
        #expect(failure("tp3 pp2 dp2 cp1", .everything).contains("uses tp·cp·pp·dp = 12"))
        #expect(failure("tp8 pp1 dp2 cp2", .megatron2021).contains("megatron-2021 cannot run"))
    }
}
