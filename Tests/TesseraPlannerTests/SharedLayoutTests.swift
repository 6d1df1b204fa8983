import Testing
import TesseraParallel
import TesseraPipeline
import TesseraPlanner

/// The planner's layouts are the runtime's ``ParallelConfig`` plus what only other software varies (#15): a layout
/// Tessera's engine can run validates as one and makes the same mesh; one only other software runs is refused by
/// the engine's own check, with the engine's reason.
@Suite struct SharedLayoutTests {
    let catalog = try! Catalog.bundled()

    @Test func plannedLayoutsAreParallelConfigs() throws {
        let job = TrainingJob(model: try catalog.model(named: "llama-3-8b"), accelerator: try catalog.accelerator(named: "h100"),
                              devices: 32, sequenceLength: 8192, globalBatchSize: 64)
        var space = SoftwareProfile.megatronCore.space
        space.contextParallelKind = .allGather
        let plan = try TrainingSearch.run(job, space: space, keep: 20)
        for estimate in plan.ranked {
            let layout = estimate.layout, parallel = layout.parallel
            try parallel.validate()
            try parallel.validate(ranks: job.devices)
            try parallel.validate(globalBatchSize: job.globalBatchSize, sequenceLength: job.sequenceLength)
            #expect(parallel.ranks == layout.deviceCount && parallel.sequenceParallel == (layout.tp > 1))
            #expect(parallel.pipeline.schedule == layout.schedule ?? .oneForwardOneBackward)
            #expect(layout.cp == 1 || parallel.contextCommunication == .allgather)
        }
        let fsdp = try TrainingLayout(summary: "tp2 pp1 dp16 mbs1 recompute:none zero3", profile: .torchtitan)
        #expect(throws: ParallelConfigError.invalidOption(
            option: LayoutParameter.zeroStage.name, value: "3",
            valid: "0 (replicated optimizer) or 1 (AdamW moments sharded over dp)")) { try fsdp.parallel.validate() }
    }
}
