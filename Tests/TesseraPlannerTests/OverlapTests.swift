import Testing
import TesseraPipeline
import TesseraPlanner

/// Exposed, not total, communication: each overlap hides what its mechanism can and no more.
@Suite struct OverlapTests {
    let catalog = try! Catalog.bundled()
    let bubble = ClosedFormBubble()

    /// A GPT of Narayanan et al.'s 18.4B width with 8 layers on A100 nodes of 8, sequence 2048.
    func cost(devices: Int = 64, batch: Int = 64, sequence: Int = 2048, model: ModelArchitecture? = nil) throws
        -> TrainingCostModel
    {
        let gpt = ModelArchitecture.gpt(name: "gpt", hiddenSize: 6144, layers: 8, heads: 48, vocabularySize: 51200,
                                        sequenceLength: sequence)
        return TrainingCostModel(job: TrainingJob(
            model: model ?? gpt, accelerator: try catalog.accelerator(named: "a100"), devices: devices,
            sequenceLength: sequence, globalBatchSize: batch))
    }

    @Test func exposedPartOfAChunkedCollective() {
        #expect(CommunicationOverlap.exposed(10, behind: 4, chunks: 8) == 6)  // outlasts the compute
        #expect(CommunicationOverlap.exposed(8, behind: 100, chunks: 8) == 1)  // one chunk cannot hide
        #expect(CommunicationOverlap.exposed(8, behind: 100, chunks: 0) == 8)
    }

    /// Inside a node, tp 8's collectives shrink to one chunk in eight behind the large products of micro-batch 8,
    /// plus the embedding's and the head's reductions, which are not overlapped. tp 16 spans two nodes: no overlap.
    @Test func tensorParallelOverlapOnlyInsideANode() throws {
        let model = try cost()
        var paid = TrainingLayout(tp: 8, pp: 1, dp: 8, microBatchSize: 8, schedule: nil, recompute: .selective,
                                  zeroStage: 1)
        var hidden = paid
        hidden.overlap.tensorParallel = true
        let full = model.estimate(paid, bubble: bubble).time.tensorParallel
        let exposed = model.estimate(hidden, bubble: bubble).time.tensorParallel
        #expect(exposed > full / 8 && exposed < full / 4, "\(exposed) of \(full)")
        #expect(abs(model.estimate(paid, bubble: bubble).stepTime - full
            - (model.estimate(hidden, bubble: bubble).stepTime - exposed)) < 1e-9)
        paid.tp = 16; paid.dp = 4
        hidden.tp = 16; hidden.dp = 4
        #expect(model.estimate(hidden, bubble: bubble).time.tensorParallel
            == model.estimate(paid, bubble: bubble).time.tensorParallel)
    }

    /// Gradient reduction (ZeRO 0) hides behind the last backward; the distributed optimizer's all-gather also
    /// behind the first forward; with one micro-batch of 8 sequences both hide, leaving only the 20 SMs they take
    /// from the computation while they run (20/SMs of their time); with eight of one they do not hide.
    @Test func dataParallelOverlapHidesBehindTheLastMicroBatch() throws {
        let model = try cost()
        let share = 20.0 / Double(try #require(model.job.accelerator.streamingMultiprocessors))
        for zero in [0, 1] {
            var paid = TrainingLayout(tp: 8, pp: 1, dp: 8, microBatchSize: 8, schedule: nil, recompute: .full,
                                      zeroStage: zero)
            var hidden = paid
            hidden.overlap.dataParallel = true
            let full = model.estimate(paid, bubble: bubble).time.dataParallel
            #expect(full > 0)
            #expect(abs(model.estimate(hidden, bubble: bubble).time.dataParallel - share * full) < 1e-12 * full)
            paid.microBatchSize = 1; hidden.microBatchSize = 1
            let partly = model.estimate(hidden, bubble: bubble).time.dataParallel
            #expect(partly > 0 && partly < model.estimate(paid, bubble: bubble).time.dataParallel)
        }
    }

    /// Asynchronous pipeline transfers hide behind the next forward pass: none of a micro-batch's exchange of
    /// activations (bsh/t) outlasts its forward pass here.
    @Test func pipelineOverlapHidesTransfers() throws {
        let model = try cost()
        let paid = TrainingLayout(tp: 8, pp: 4, dp: 2, microBatchSize: 1, schedule: .oneForwardOneBackward,
                                  recompute: .full, zeroStage: 1)
        var hidden = paid
        hidden.overlap.pipeline = true
        #expect(model.estimate(paid, bubble: bubble).time.pipelineTransfers > 0)
        #expect(model.estimate(hidden, bubble: bubble).time.pipelineTransfers == 0)
    }

    /// Ring context parallelism hides its key/value exchange behind attention; Llama 3's all-gather does not, and
    /// holds one layer's full-sequence keys and values.
    @Test func allGatherContextParallelIsExposed() throws {
        let model = try cost(sequence: 32768)
        let ring = TrainingLayout(tp: 8, pp: 1, dp: 2, cp: 4, microBatchSize: 1, schedule: nil, recompute: .selective,
                                  zeroStage: 1)
        var gather = ring
        gather.contextParallelKind = .allGather
        let ringTime = model.estimate(ring, bubble: bubble).time.contextParallel
        let gatherTime = model.estimate(gather, bubble: bubble).time.contextParallel
        #expect(gatherTime > 0 && gatherTime > ringTime)
        // Keys and values of one layer: 2 bytes × 32768 tokens × 48/8 heads of 128 (keys and values) per tp rank.
        let extra = model.memory(gather).activations - model.memory(ring).activations
        #expect(abs(extra - 2 * 32768 * 6 * 256) < 1e-3)
    }

    /// The profiles' spaces put their overlaps on every layout: the same layout is slower under megatron-2022
    /// than under megatron-core, by its hidden communication only (both without FlashAttention here).
    @Test func profileOverlapsReachTheEstimate() throws {
        let model = try cost()
        let layout = TrainingLayout(tp: 8, pp: 2, dp: 4, microBatchSize: 1, schedule: .oneForwardOneBackward,
                                    recompute: .selective, zeroStage: 0)
        let plain = model.estimate(SoftwareProfile.megatron2022.applyingFeatures(to: layout), bubble: bubble)
        var core = SoftwareProfile.megatronCore.applyingFeatures(to: layout)
        core.flashAttention = false
        core.float32GradientCopy = true
        let overlapped = model.estimate(core, bubble: bubble)
        #expect(overlapped.time.tensorParallel < plain.time.tensorParallel)
        #expect(overlapped.time.dataParallel <= plain.time.dataParallel)
        #expect(overlapped.time.compute == plain.time.compute && overlapped.memory == plain.memory)
    }
}
