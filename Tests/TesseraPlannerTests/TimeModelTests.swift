import Testing
import TesseraPipeline
import TesseraPlanner

/// The time model's physical terms, each checked against the figure its documentation derives.
@Suite struct TimeModelTests {
    let catalog = try! Catalog.bundled()

    /// A GPT of Narayanan et al.'s 18.4B shape with fewer layers, on A100-80GB nodes of 8.
    func gptJob(layers: Int = 8, vocabulary: Int = 51200, dropout: Bool = true, devices: Int = 64) throws -> TrainingJob {
        var model = ModelArchitecture.gpt(name: "gpt", hiddenSize: 6144, layers: layers, heads: 48,
                                          vocabularySize: vocabulary, sequenceLength: 2048)
        model.dropout = dropout
        return TrainingJob(model: model, accelerator: try catalog.accelerator(named: "a100"), devices: devices,
                           sequenceLength: 2048, globalBatchSize: 64, computeFormat: .fp16)
    }

    /// Ranks are numbered node by node: a group lies in one node when its block of ranks does, spans nodes with
    /// `devicesPerNode / stride` members in each when its block covers whole nodes, and otherwise (a group that
    /// straddles a node boundary) counts as one member per node.
    @Test func groupPlacement() throws {
        let a100 = try catalog.accelerator(named: "a100")
        func placement(_ size: Int, _ stride: Int) -> [Int] {
            let group = a100.group(size: size, stride: stride)
            return [group.perNode, group.nodes]
        }
        #expect(placement(8, 1) == [8, 1])
        #expect(placement(4, 2) == [4, 1])
        #expect(placement(32, 1) == [8, 4])
        #expect(placement(32, 2) == [4, 8])
        #expect(placement(32, 8) == [1, 32])
        #expect(placement(2, 64) == [1, 2])
        #expect(placement(3, 1) == [1, 3])
        #expect(!a100.group(size: 8, stride: 1).spansNodes && a100.group(size: 8, stride: 2).spansNodes)
        #expect(a100.group(size: 8, stride: 2).link == a100.interNode)
    }

    /// NCCL runs one ring per NIC of a node's members: the data-parallel all-reduce of a tp 1 layout (8 members per
    /// node) moves its gradients over min(NVLink, 8 NICs), a tp 8 layout's (1 member per node) over one NIC. Each
    /// equals 2(n-1)/n of the gradient bytes over that bandwidth times ``PlannerConstants/linkEfficiency``, plus
    /// ring latencies of a few hundred microseconds at most.
    @Test func dataParallelRingsUseEveryNIC() throws {
        let job = try gptJob()
        let cost = TrainingCostModel(job: job)
        let model = job.model
        let parameters = (0..<model.layers).reduce(0.0) { $0 + model.layerParameters($1).dense } + model.embeddingParameters
        let a100 = job.accelerator
        for (tp, members) in [(1, 8), (2, 4), (8, 1)] {
            let dp = 64 / tp
            let layout = TrainingLayout(tp: tp, pp: 1, dp: dp, microBatchSize: 1, schedule: nil, recompute: .full,
                                        zeroStage: 0, sequenceParallel: false)
            let bytes = PlannerConstants.gradientBytesPerParameter * parameters / Double(tp)
            let bandwidth = min(a100.intraNode.bytesPerSecond, Double(members) * a100.interNode.bytesPerSecond)
                * PlannerConstants.linkEfficiency
            let expected = 2 * Double(dp - 1) / Double(dp) * bytes / bandwidth
            let predicted = cost.estimate(layout, bubble: ClosedFormBubble()).time.dataParallel
            #expect(predicted >= expected && predicted < expected + 1e-3, "tp\(tp): \(predicted) vs \(expected)")
        }
    }

    /// The last pipeline stage carries the LM head and the loss, and every micro-batch costs the pipeline the
    /// slowest stage's work: with two stages the compute per step is that of half the layers plus the whole head,
    /// so 2 × compute(pp 2) − compute(pp 1) is the head's time, which is linear in the vocabulary (without the tail
    /// of the last wave of tiles, which is not).
    @Test func headRidesOnTheLastStage() throws {
        func headTime(vocabulary: Int) throws -> Double {
            var job = try gptJob(vocabulary: vocabulary)
            job.accelerator.streamingMultiprocessors = nil
            let cost = TrainingCostModel(job: job)
            let one = TrainingLayout(tp: 1, pp: 1, dp: 1, microBatchSize: 1, schedule: nil, recompute: .full, zeroStage: 0)
            var two = one
            two.pp = 2
            two.schedule = .oneForwardOneBackward
            let bubble = CachedBubbleModel(SimulatedBubble())
            return 2 * cost.estimate(two, bubble: bubble).time.compute - cost.estimate(one, bubble: bubble).time.compute
        }
        let head = try headTime(vocabulary: 51200)
        #expect(head > 0)
        #expect(abs(try headTime(vocabulary: 102_400) / head - 2) < 1e-9)
        // Non-vacuity: a model without the head on the last stage would give 0.
        #expect(abs(try headTime(vocabulary: 8)) < head / 1000)
    }

    /// The head's extra work on the last stage lengthens the pipeline step beyond the uniform-stage formula: the
    /// simulator sees each chunk's own costs.
    @Test func imbalancedStagesReachTheSimulator() throws {
        let cost = TrainingCostModel(job: try gptJob())
        let layout = TrainingLayout(tp: 1, pp: 4, dp: 1, microBatchSize: 1, schedule: .interleaved, virtualStages: 2,
                                    recompute: .full, zeroStage: 0, sequenceParallel: false)
        let estimate = cost.estimate(layout, bubble: CachedBubbleModel(SimulatedBubble()))
        let t = estimate.time
        let perMicroBatch = (t.compute + t.recompute + t.pipelineTransfers) / Double(estimate.microBatches)
        // Closed form with every rank as slow as the last: (p-1)/v idle slots of its per-micro-batch work.
        let closed = cost.estimate(layout, bubble: ClosedFormBubble()).time.pipelineBubble
        #expect(abs(closed - 1.5 * perMicroBatch) < 1e-6 * closed)
        #expect(t.pipelineBubble > 0 && t.pipelineBubble < closed, "lighter ranks fill part of the warm-up")
    }

    /// Without FlashAttention the s × s scores go through memory: the dropout kernels alone add 5 bytes per score
    /// element forward, backward and in the recomputed forward, over the memory bandwidth times
    /// ``PlannerConstants/memoryBandwidthEfficiency``; FlashAttention adds nothing beyond the FLOPs.
    @Test func materializedScoresCostTheirTraffic() throws {
        func overhead(dropout: Bool) throws -> Double {
            let job = try gptJob(dropout: dropout)
            let cost = TrainingCostModel(job: job)
            var layout = TrainingLayout(tp: 8, pp: 1, dp: 8, microBatchSize: 1, schedule: nil, recompute: .full,
                                        zeroStage: 0, sequenceParallel: false)
            let flash = cost.estimate(layout, bubble: ClosedFormBubble()).time
            layout.flashAttention = false
            let materialized = cost.estimate(layout, bubble: ClosedFormBubble()).time
            #expect(materialized.tensorParallel == flash.tensorParallel)
            return materialized.total - flash.total
        }
        let job = try gptJob()
        let scoresPerStep = 8.0 * 8 * 2048 * 2048 * 48 / 8  // micro-batches × layers × s × s × heads / tp
        let rate = job.accelerator.memoryBytesPerSecond * PlannerConstants.memoryBandwidthEfficiency
        let dropoutTraffic = (2 * PlannerConstants.dropoutTrafficPerScore.forward
            + PlannerConstants.dropoutTrafficPerScore.backward) * scoresPerStep / rate
        let withDropout = try overhead(dropout: true), without = try overhead(dropout: false)
        #expect(without > 0)
        #expect(abs((withDropout - without) / dropoutTraffic - 1) < 1e-9)
    }

    /// Megatron-LM 2021's optimizer step holds an FP32 copy of the gradients: 20 bytes per parameter once the
    /// activations are freed, which is the peak when full recomputation keeps activations small.
    @Test func float32GradientCopyPeaksAtTheStep() throws {
        let job = try gptJob(devices: 8)
        let cost = TrainingCostModel(job: job)
        let model = job.model
        let parameters = ((0..<model.layers).reduce(0.0) { $0 + model.layerParameters($1).dense }
            + model.embeddingParameters + model.finalNormParameters) / 8
        var layout = TrainingLayout(tp: 8, pp: 1, dp: 1, microBatchSize: 1, schedule: nil, recompute: .full,
                                    zeroStage: 0, sequenceParallel: false)
        let passes = cost.memory(layout)
        #expect(abs((passes.weights + passes.gradients + passes.optimizer) / (16 * parameters) - 1) < 1e-9)
        layout.float32GradientCopy = true
        let step = cost.memory(layout)
        #expect(step.activations == 0 && abs(step.total / (20 * parameters) - 1) < 1e-9)
        #expect(step.total > passes.total)
    }

    /// PyTorch DDP (Megatron-LM 2021's `--DDP-impl torch`, pp = 1) keeps a bucket copy of the 16-bit gradients and
    /// hides the gradient all-reduce behind the last micro-batch's backward pass; Megatron's local DDP exposes it.
    @Test func torchDDPHidesTheReductionBehindTheLastBackward() throws {
        let job = try gptJob(layers: 8, devices: 64)
        let cost = TrainingCostModel(job: job)
        var local = TrainingLayout(tp: 8, pp: 1, dp: 8, microBatchSize: 8, schedule: nil, recompute: .full,
                                   zeroStage: 0, sequenceParallel: false, flashAttention: false)
        local.float32GradientCopy = true
        var ddp = local
        ddp.torchDDP = true
        let bubble = ClosedFormBubble()
        // One micro-batch of 8 sequences: its backward pass outlasts the reduction, which hides; the computation
        // beside it loses the 20 SMs the reduction holds (20/SMs of its time).
        let exposed = cost.estimate(local, bubble: bubble).time.dataParallel
        let lost = exposed * 20 / Double(try #require(job.accelerator.streamingMultiprocessors))
        #expect(exposed > 0 && abs(cost.estimate(ddp, bubble: bubble).time.dataParallel - lost) < 1e-12)
        #expect(abs(cost.estimate(local, bubble: bubble).stepTime - exposed + lost - cost.estimate(ddp, bubble: bubble).stepTime) < 1e-9)
        // Eight micro-batches of one: the last one's backward pass hides only part of it.
        local.microBatchSize = 1
        ddp.microBatchSize = 1
        let partly = cost.estimate(ddp, bubble: bubble).time.dataParallel
        #expect(partly > 0 && partly < cost.estimate(local, bubble: bubble).time.dataParallel)
        // The buckets: 2 bytes per parameter this device holds, at the optimizer step's peak too.
        let extra = cost.memory(ddp).gradients - cost.memory(local).gradients
        #expect(abs(extra / (cost.memory(local).weights) - 1) < 1e-9)
        // The search offers it only for pp = 1 and ZeRO 0.
        var space = PublishedRuns.megatron2021Space
        space.zeroStages = [0, 1]
        space.schedules = [.oneForwardOneBackward]
        let plan = try TrainingSearch.run(job, space: space, keep: 10_000, keepMeshes: 100, bubble: bubble)
        #expect(plan.ranked.contains { $0.layout.torchDDP })
        #expect(plan.ranked.allSatisfy { !$0.layout.torchDDP || ($0.layout.pp == 1 && $0.layout.zeroStage == 0) })
    }

    /// A matrix product with an M × N output runs ⌈M/256⌉·⌈N/128⌉ tiles in waves of one per SM (108 on A100), and
    /// the planner charges half a wave more: (w + 1/2)/w of its FLOP time, for the forward (tokens × width), the
    /// input gradient (tokens × depth) and the weight gradient (depth × width). Computed here product by product for
    /// GPT tp 8 with one 2048-token micro-batch; an accelerator without an SM count pays nothing; larger
    /// micro-batches pay less per token.
    @Test func lastWaveOfTilesStretchesSmallProducts() throws {
        func compute(microBatch: Int, multiprocessors: Int?) throws -> Double {
            var job = try gptJob()
            job.accelerator.streamingMultiprocessors = multiprocessors
            let layout = TrainingLayout(tp: 8, pp: 1, dp: 8, microBatchSize: microBatch, schedule: nil,
                                        recompute: .none, zeroStage: 0, sequenceParallel: false)
            return TrainingCostModel(job: job).estimate(layout, bubble: ClosedFormBubble()).time.compute
        }
        func stretch(_ rows: Double, _ columns: Double) -> Double {
            let waves = (rows / 256).rounded(.up) * (columns / 128).rounded(.up) / 108
            return (waves + 0.5) / waves
        }
        let h = 6144.0, tokens = 2048.0, t = 8.0, layers = 8.0, microBatches = 8.0
        // (weights, depth, width per device): QKV, output projection, MLP up, MLP down; then the LM head.
        let products = [(3 * h * h, h, 3 * h / t), (h * h, h / t, h), (4 * h * h, h, 4 * h / t), (4 * h * h, 4 * h / t, h)]
        let rate = 312e12 * PlannerConstants.matmulEfficiency
        func extra(_ weights: Double, _ depth: Double, _ width: Double) -> Double {
            2 * tokens * weights / t / rate
                * (stretch(tokens, width) + stretch(tokens, depth) + stretch(depth, width) - 3)
        }
        let expected = microBatches * (layers * products.reduce(0) { $0 + extra($1.0, $1.1, $1.2) }
            + extra(h * 51200, h, 51200 / t))
        let measured = try compute(microBatch: 1, multiprocessors: 108) - compute(microBatch: 1, multiprocessors: nil)
        #expect(expected > 0 && abs(measured / expected - 1) < 1e-9, "\(measured) vs \(expected)")
        // Eight sequences per product: more waves, a smaller tail per token (same FLOPs per step).
        let eight = try compute(microBatch: 8, multiprocessors: 108) - compute(microBatch: 8, multiprocessors: nil)
        #expect(eight > 0 && eight < measured / 2)
    }
}
