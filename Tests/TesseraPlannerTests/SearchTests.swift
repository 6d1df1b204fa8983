import Testing
import TesseraPipeline
import TesseraPlanner

@Suite struct SearchTests {
    let catalog = try! Catalog.bundled()

    func job(_ model: String, _ gpu: String, gpus: Int, sequence: Int, batch: Int) throws -> TrainingJob {
        TrainingJob(model: try catalog.model(named: model), accelerator: try catalog.accelerator(named: gpu), devices: gpus,
                    sequenceLength: sequence, globalBatchSize: batch)
    }

    /// Every returned layout uses all GPUs, divides the model and the batch, fits, and the list is fastest first.
    @Test func rankedLayoutsAreValidAndSorted() throws {
        let job = try job("mixtral-8x7b", "h100", gpus: 64, sequence: 4096, batch: 256)
        let plan = try TrainingSearch.run(job, keep: 100)
        #expect(plan.ranked.count == 100 && plan.fittingCount >= 100 && plan.candidatesEvaluated > plan.fittingCount)
        let model = job.model
        for e in plan.ranked {
            let l = e.layout
            #expect(l.deviceCount == 64)
            #expect(model.attentionHeads % l.tp == 0 && (model.keyValueHeads % l.tp == 0 || l.tp % model.keyValueHeads == 0))
            #expect(8 % l.ep == 0 && (l.dp * l.tp / l.etp) % l.ep == 0 && l.tp % l.etp == 0)
            #expect(l.expertDataParallel * l.etp * l.ep == l.tp * l.cp * l.dp)
            #expect(256 % (l.dp * l.microBatchSize) == 0)
            #expect(e.fits && e.memory.total <= e.usableMemory)
            #expect((l.schedule == nil) == (l.pp == 1))
            if l.schedule == .interleaved { #expect(e.microBatches % l.pp == 0 && model.layers % (l.pp * l.virtualStages) == 0) }
            if l.zeroStage > 1 { #expect(l.pp == 1) }
        }
        #expect(zip(plan.ranked, plan.ranked.dropFirst()).allSatisfy { $0.stepTime <= $1.stepTime + 1e-9 })
        // Pruning by the bubble-free bound is exact: the same best layouts and meshes as timing every fitting one
        // (experts on the dense tp, to keep the exhaustive run short).
        var space = TrainingSearchSpace()
        space.expertTensorParallel = false
        let pruned = try TrainingSearch.run(job, space: space, keep: 100, keepMeshes: 20, bubble: ClosedFormBubble())
        let fitting = try TrainingSearch.run(job, space: space, keep: 1).fittingCount
        let exhaustive = try TrainingSearch.run(job, space: space, keep: fitting, keepMeshes: 1000, bubble: ClosedFormBubble())
        #expect(exhaustive.ranked.prefix(100).map(\.layout) == pruned.ranked.map(\.layout))
        #expect(exhaustive.bestMeshes.prefix(20).map(\.layout) == pruned.bestMeshes.map(\.layout))
        #expect(Set(plan.bestMeshes.map(\.layout.mesh)).count == plan.bestMeshes.count)
    }

    /// Narrowing the space narrows the answer.
    @Test func searchSpaceRestrictsLayouts() throws {
        var space = TrainingSearchSpace()
        space.zeroStages = [0]
        space.recompute = [.full]
        space.tensorParallelSizes = [4]
        let plan = try TrainingSearch.run(try job("llama-2-13b", "a100", gpus: 32, sequence: 4096, batch: 128), space: space)
        #expect(!plan.ranked.isEmpty)
        #expect(plan.ranked.allSatisfy { $0.layout.tp == 4 && $0.layout.zeroStage == 0 && $0.layout.recompute == .full })
    }

    /// A reproduction's recipe: a fixed micro-batch size and Megatron-LM's fixed layers per model chunk give each
    /// pipeline depth one schedule, v = layers / (pp·k), 1F1B where that is 1, none where pp·k does not divide.
    @Test func recipeFixesMicroBatchAndChunkSize() throws {
        let job = try job("gpt-3-175b", "a100", gpus: 1536, sequence: 2048, batch: 1536)
        var space = PublishedRuns.megatron2021Space
        space.microBatchSizes = [2]
        space.layersPerVirtualStage = 4
        let plan = try TrainingSearch.run(job, space: space, keep: 500, keepMeshes: 30)
        #expect(!plan.ranked.isEmpty)
        let layers = job.model.layers
        for estimate in plan.ranked {
            let layout = estimate.layout
            #expect(layout.microBatchSize == 2)
            guard layout.pp > 1 else { continue }
            #expect(layers % (layout.pp * 4) == 0 && layout.virtualStages == layers / (layout.pp * 4))
            #expect(layout.schedule == (layout.virtualStages == 1 ? .oneForwardOneBackward : .interleaved))
        }
        // Without the recipe the same search picks other micro-batch sizes and chunk sizes.
        let free = try TrainingSearch.run(job, space: PublishedRuns.megatron2021Space, keep: 500, keepMeshes: 30)
        #expect(free.ranked.contains { $0.layout.microBatchSize != 2 || ($0.layout.pp > 1 && $0.layout.virtualStages * $0.layout.pp * 4 != layers) })
    }

    /// Memory grows and speed falls as expected along single axes (sanity of the model's direction).
    @Test func costModelDirections() throws {
        let cost = TrainingCostModel(job: try job("llama-3-8b", "h100", gpus: 8, sequence: 8192, batch: 64))
        let base = TrainingLayout(tp: 2, pp: 2, dp: 2, microBatchSize: 1, schedule: .oneForwardOneBackward,
                                  recompute: .none, zeroStage: 0)
        var selective = base; selective.recompute = .selective
        var full = base; full.recompute = .full
        let bubble = ClosedFormBubble()
        #expect(cost.memory(full).activations < cost.memory(selective).activations)
        // FlashAttention keeps no scores, so selective recomputation saves memory only where they are materialized.
        #expect(cost.memory(selective).activations == cost.memory(base).activations)
        var materialized = base; materialized.flashAttention = false
        var materializedSelective = selective; materializedSelective.flashAttention = false
        #expect(cost.memory(materializedSelective).activations < cost.memory(materialized).activations)
        #expect(cost.estimate(full, bubble: bubble).stepTime > cost.estimate(selective, bubble: bubble).stepTime)
        var zero1 = base; zero1.zeroStage = 1
        #expect(cost.memory(zero1).optimizer == cost.memory(base).optimizer / 2)
        var bigger = base; bigger.microBatchSize = 4
        #expect(cost.memory(bigger).activations > 3.9 * cost.memory(base).activations)
    }

    /// A CPU-sized job: the 2-core profile plans SmolLM2-135M.
    @Test func plansForThisMachine() throws {
        let plan = try TrainingSearch.run(try job("smollm2-135m", "cpu", gpus: 2, sequence: 1024, batch: 8))
        #expect(!plan.ranked.isEmpty && plan.ranked[0].tokensPerSecond > 0)
        #expect(plan.explanation().contains("Best:"))
        #expect(plan.runnersUpTable(limit: 3).split(separator: "\n").count >= 3)
    }
}
