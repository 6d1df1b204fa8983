import Testing
import TesseraParallel
import TesseraPipeline
import TesseraPlanner

@Suite struct MemoryModelTests {
    let catalog = try! Catalog.bundled()

    /// A GPT (vocabulary 51,200, sequence 2048) and its training cost model on `devices` A100s.
    func gptOnA100(hiddenSize: Int, layers: Int, heads: Int, devices: Int, globalBatchSize: Int) throws
        -> (ModelArchitecture, TrainingCostModel) {
        let model = ModelArchitecture.gpt(name: "gpt", hiddenSize: hiddenSize, layers: layers, heads: heads,
                                          vocabularySize: 51200, sequenceLength: 2048)
        let job = TrainingJob(model: model, accelerator: try catalog.accelerator(named: "a100"), devices: devices,
                              sequenceLength: 2048, globalBatchSize: globalBatchSize)
        return (model, TrainingCostModel(job: job))
    }

    /// GPT-3 175B holds ≈ 350 GB of FP16 weights (174.6B parameters x 2 bytes; Brown et al. 2020).
    @Test func gpt3WeightsInFP16() throws {
        let job = ServingJob(model: try catalog.model(named: "gpt3-175b"), accelerator: try catalog.accelerator(named: "a100"),
                             weightFormat: .fp16)
        #expect(abs(job.weightBytes / 350e9 - 1) < 0.01)
    }

    /// A 70B model: ≈ 140 GB in FP16; ≈ 35 GB at 4 bits, 39 GB with q4_0's FP16 scale per 32 weights (4.5 bits).
    @Test func seventyBillionByFormat() throws {
        let model = try catalog.model(named: "llama-2-70b")
        let h100 = try catalog.accelerator(named: "h100")
        func bytes(_ format: WeightFormat) -> Double { ServingJob(model: model, accelerator: h100, weightFormat: format).weightBytes }
        #expect(abs(bytes(.fp16) / 140e9 - 1) < 0.02)
        #expect(abs(model.totalParameters * WeightFormat.int4.payloadBitsPerWeight / 8 / 35e9 - 1) < 0.02)
        #expect(abs(bytes(.int4) / (model.totalParameters * 4.5 / 8) - 1) < 1e-12)
        #expect(abs(bytes(.int8) / (model.totalParameters * 8.5 / 8) - 1) < 1e-12)
        #expect(bytes(.fp8) == model.totalParameters)
    }

    /// Rajbhandari et al. 2020 (ZeRO), Figure 1 / §5: Ψ = 7.5B parameters, Nd = 64 GPUs, K = 12:
    /// baseline 120 GB per GPU; P_os 31.4 GB; P_os+g 16.6 GB; P_os+g+p 1.9 GB.
    @Test(arguments: [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
    func zeroPaperExample(stage: Int, gigabytes: Double) {
        let states = ModelStateMemory(parameters: 7.5e9, dataParallel: 64, zeroStage: stage)
        #expect(abs(states.total / 1e9 - gigabytes) < 0.05, "ZeRO-\(stage): \(states.total / 1e9) GB")
    }

    /// The same through the whole training memory model: a 7.46B GPT on 64 GPUs at dp = 64.
    @Test func zeroThroughTheTrainingModel() throws {
        let (model, cost) = try gptOnA100(hiddenSize: 4096, layers: 36, heads: 32, devices: 64, globalBatchSize: 64)
        let psi = model.totalParameters
        for (stage, perParameter) in [(0, 16.0), (1, 4 + 12.0 / 64), (2, 2 + 14.0 / 64)] {
            let layout = TrainingLayout(tp: 1, pp: 1, dp: 64, microBatchSize: 1, schedule: nil, recompute: .full,
                                        zeroStage: stage)
            let m = cost.memory(layout)
            #expect(abs((m.weights + m.gradients + m.optimizer) / (perParameter * psi) - 1) < 1e-9)
        }
    }

    /// Korthikanti et al. 2022, Table 2: activation bytes per transformer layer.
    @Test(arguments: [(12288, 96, 2048, 1, 8), (6144, 64, 2048, 4, 8), (20480, 128, 2048, 1, 8), (2304, 24, 1024, 2, 2)])
    func korthikantiTable2(h: Int, a: Int, s: Int, b: Int, t: Int) {
        let model = ModelArchitecture.gpt(name: "gpt", hiddenSize: h, layers: 1, heads: a, vocabularySize: 51200,
                                          sequenceLength: s)
        let sbh = Double(s * b * h)
        let attention = 5.0 * Double(a * s) / Double(h)
        let td = Double(t)
        func bytes(_ t: Int, _ sp: Bool, _ recompute: Recomputation) -> Double {
            model.activationBytesPerLayer(layer: 0, sequenceLength: s, microBatch: b, tensorParallel: t,
                                          sequenceParallel: sp, recompute: recompute)
        }
        #expect(abs(bytes(1, false, .none) / (sbh * (34 + attention)) - 1) < 1e-12)
        #expect(abs(bytes(t, false, .none) / (sbh * (10 + 24 / td + attention / td)) - 1) < 1e-12)
        #expect(abs(bytes(t, true, .none) / (sbh / td * (34 + attention)) - 1) < 1e-12)
        #expect(abs(bytes(t, false, .selective) / (sbh * (10 + 24 / td)) - 1) < 1e-12)
        #expect(abs(bytes(t, true, .selective) / (sbh * 34 / td) - 1) < 1e-12)
        #expect(bytes(t, false, .full) == 2 * sbh)
        // Non-vacuity: forgetting that sequence parallelism splits the 10sbh part is caught by the same check.
        #expect(abs(bytes(t, false, .selective) / (sbh * 34 / td) - 1) > 0.1)
    }

    /// Grouped-query, SwiGLU layers without dropout store fewer bytes than the GPT formula: Llama 2 70B per layer
    /// (s = 4096, b = 1, no parallelism, selective) = 2sbh·(2 + 1 + 1) norms/inputs + Q, K, V, attention output,
    /// and three SwiGLU intermediates.
    @Test func groupedQuerySwiGLUActivations() throws {
        let model = try catalog.model(named: "llama-2-70b")
        let s = 4096.0, h = 8192.0, f = 28672.0, kv = 8.0 * 128
        let expected = 2 * s * (4 * h + h + kv + kv + h + 3 * f)
        let got = model.activationBytesPerLayer(layer: 0, sequenceLength: 4096, microBatch: 1, tensorParallel: 1,
                                                sequenceParallel: false, recompute: .selective)
        #expect(got == expected)
        // Without dropout the scores cost 2as²b, not 5as²b.
        let none = model.activationBytesPerLayer(layer: 0, sequenceLength: 4096, microBatch: 1, tensorParallel: 1,
                                                 sequenceParallel: false, recompute: .none)
        #expect(none - got == 2 * 64 * s * s)
    }

    /// KV cache per token: 2 · layers · kv heads · head dim · 2 bytes (grouped-query aware); latent for DeepSeek.
    @Test(arguments: [("llama-2-70b", 327_680.0), ("llama-2-7b", 524_288.0), ("llama-3-8b", 131_072.0),
                      ("deepseek-v3", 70_272.0), ("gpt3-175b", 4_718_592.0)])
    func keyValueCachePerToken(name: String, bytes: Double) throws {
        let job = ServingJob(model: try catalog.model(named: name), accelerator: try catalog.accelerator(named: "h100"))
        #expect(job.keyValueBytesPerToken == bytes)
    }

    /// In-flight micro-batches on the first pipeline stage: 1F1B holds p, GPipe m, interleaved p(1 + (p-1)/(pv))
    /// (Korthikanti et al. 2022 §4.2.3); the activations scale accordingly.
    @Test func pipelineInFlightActivations() throws {
        let (model, cost) = try gptOnA100(hiddenSize: 4096, layers: 32, heads: 32, devices: 32, globalBatchSize: 64)
        func layout(_ schedule: PipelineScheduleKind, v: Int = 1) -> TrainingLayout {
            TrainingLayout(tp: 2, pp: 4, dp: 4, microBatchSize: 1, schedule: schedule, virtualStages: v,
                           recompute: .selective, zeroStage: 0)
        }
        let m = 16
        #expect(cost.microBatchesInFlight(layout(.oneForwardOneBackward), microBatches: m, firstStage: true) == 4)
        #expect(cost.microBatchesInFlight(layout(.zeroBubbleH1), microBatches: m, firstStage: true) == 4)
        #expect(cost.microBatchesInFlight(layout(.gpipe), microBatches: m, firstStage: true) == 16)
        #expect(cost.microBatchesInFlight(layout(.interleaved, v: 2), microBatches: m, firstStage: true) == 4 * (1 + 3.0 / 8))
        #expect(cost.microBatchesInFlight(layout(.oneForwardOneBackward), microBatches: 2, firstStage: true) == 2)
        let oneFOneB = cost.memory(layout(.oneForwardOneBackward)).activations
        let gpipe = cost.memory(layout(.gpipe)).activations
        #expect(gpipe > 3.5 * oneFOneB)
        // 1F1B's first stage holds L layers' worth: p micro-batches of L/p layers (plus the embedding mask).
        let perLayer = model.activationBytesPerLayer(layer: 0, sequenceLength: 2048, microBatch: 1, tensorParallel: 2,
                                                     sequenceParallel: true, recompute: .selective)
        let embeddingMask = 2048.0 * 4096 / 2 * 4
        #expect(abs(oneFOneB - (32 * perLayer + embeddingMask)) < 1)
    }

    /// Full recomputation keeps each layer's input, and the backward pass rebuilds one layer's activations at a
    /// time: l·A_input + A_intermediate (Narayanan et al. 2021 §3.5). For GPT with tp 8, no sequence parallelism,
    /// pp 1: 2sbh per layer, the embedding's dropout mask, the head's inputs and FP32 logits, and one layer's
    /// Korthikanti activations sbh(34 + 5as/h) split as tp splits them; fused attention drops the s × s part only.
    @Test func fullRecomputationRebuildsOneLayer() throws {
        let (model, cost) = try gptOnA100(hiddenSize: 6144, layers: 40, heads: 48, devices: 8, globalBatchSize: 8)
        var layout = TrainingLayout(tp: 8, pp: 1, dp: 1, microBatchSize: 1, schedule: nil, recompute: .full,
                                    zeroStage: 0, sequenceParallel: false, flashAttention: false)
        let (s, h, v, t) = (2048.0, 6144.0, 51200.0, 8.0)
        let oneLayer = model.activationBytesPerLayer(layer: 0, sequenceLength: 2048, microBatch: 1, tensorParallel: 8,
                                                     sequenceParallel: false, recompute: .none)
        let expected = 40 * 2 * s * h + s * h + (2 * 2 * s * h + 4 * s * v) / t + oneLayer
        #expect(abs(cost.memory(layout).activations / expected - 1) < 1e-12)
        layout.flashAttention = true
        let scores = 5 * 48 * s * s / t
        #expect(abs(cost.memory(layout).activations / (expected - scores) - 1) < 1e-12)
    }

    /// Expert weights split over expert parallelism; dense weights do not.
    @Test func expertWeightsSplitOverExpertParallelism() throws {
        let model = try catalog.model(named: "mixtral-8x7b")
        let job = TrainingJob(model: model, accelerator: try catalog.accelerator(named: "h100"), devices: 64,
                              sequenceLength: 4096, globalBatchSize: 64)
        let cost = TrainingCostModel(job: job)
        func weights(ep: Int) -> Double {
            cost.memory(TrainingLayout(tp: 1, pp: 8, dp: 8, ep: ep, microBatchSize: 1, schedule: .oneForwardOneBackward,
                                       recompute: .full, zeroStage: 0)).weights
        }
        let expertsPerStage = 4 * model.routedExpertParameters * 2
        #expect(abs((weights(ep: 1) - weights(ep: 8)) - expertsPerStage * (1 - 1.0 / 8)) < 1)
    }
}
