import Testing
import TesseraPipeline
import TesseraPlanner

/// Expert layers with their own tensor-parallel size (Megatron-Core's MoE parallel folding): memory, time, search.
@Suite struct ExpertTensorParallelTests {
    let catalog = try! Catalog.bundled()

    func mixtral(gpus: Int = 16) throws -> TrainingCostModel {
        TrainingCostModel(job: TrainingJob(
            model: try catalog.model(named: "mixtral-8x7b"), accelerator: try catalog.accelerator(named: "h100"),
            devices: gpus, sequenceLength: 4096, globalBatchSize: 64))
    }

    func layout(etp: Int?) -> TrainingLayout {
        TrainingLayout(tp: 4, pp: 1, dp: 4, ep: 2, microBatchSize: 1, schedule: nil, recompute: .selective,
                       zeroStage: 0, expertTensorParallel: etp)
    }

    /// Each GPU holds 1/(etp·ep) of every expert: with etp 1 four times the expert weights of etp 4 (2 bytes each),
    /// while dense weights stay split over tp 4.
    @Test func expertWeightsSplitOverExpertTensorParallel() throws {
        let cost = try mixtral()
        let model = cost.job.model
        let experts = model.routedExpertParameters * Double(model.layers)
        let extra = cost.memory(layout(etp: 1)).weights - cost.memory(layout(etp: nil)).weights
        #expect(abs(extra / (2 * experts * (1.0 / 2 - 1.0 / 8)) - 1) < 1e-9)
        #expect(layout(etp: 1).expertDataParallel == 8 && layout(etp: nil).expertDataParallel == 2)
    }

    /// With etp 1 an MoE layer's MLP needs no tp collective: of its two pairs per layer only attention's remains,
    /// so the layers' tp time halves (the embedding's and the head's reductions stay).
    @Test func expertLayersSkipTheirTensorParallelPair() throws {
        let cost = try mixtral()
        let bubble = ClosedFormBubble()
        let folded = cost.estimate(layout(etp: 1), bubble: bubble).time.tensorParallel
        let split = cost.estimate(layout(etp: nil), bubble: bubble).time.tensorParallel
        #expect(folded > 0.5 * split && folded < 0.55 * split, "\(folded) of \(split)")
    }

    /// The search offers etp < tp with ep folded over the freed tp ranks where the software has it, and layouts read
    /// back with their etp; profiles without it keep etp = tp and refuse it with the reason.
    @Test func searchAndProfilesHandleExpertTensorParallel() throws {
        let job = try mixtral(gpus: 32).job
        let plan = try TrainingSearch.run(job, space: SoftwareProfile.megatronCore.space, keep: 300)
        #expect(plan.ranked.contains { $0.layout.etp < $0.layout.tp })
        for estimate in plan.ranked {
            let layout = estimate.layout
            #expect(try TrainingLayout(summary: layout.summary, profile: .megatronCore) == layout, "\(layout.summary)")
        }
        var narrow = SoftwareProfile.megatronCore.space
        narrow.expertTensorParallel = false
        #expect(try TrainingSearch.run(job, space: narrow, keep: 300).ranked.allSatisfy { $0.layout.etp == $0.layout.tp })
        do {
            try SoftwareProfile.megatron2022.check(layout(etp: 1))
            Issue.record("megatron-2022 accepted etp 1")
        } catch let error as PlannerError {
            #expect(error.description.contains("ep 2 needs expert parallelism"))
        }
        var noExperts = layout(etp: 1)
        noExperts.ep = 1
        do {
            try SoftwareProfile.megatron2022.check(noExperts)
            Issue.record("megatron-2022 accepted etp 1")
        } catch let error as PlannerError {
            #expect(error.description.contains("same tp ranks as the dense layers"))
        }
    }
}
