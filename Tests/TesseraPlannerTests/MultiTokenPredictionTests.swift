import Testing
import TesseraPipeline
import TesseraPlanner

/// Multi-token prediction (DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", §2.2): each module adds a projection
/// of 2h to h, one transformer block and a second pass through the shared output head and its loss, all on the
/// rank that holds the head.
@Suite struct MultiTokenPredictionTests {
    let catalog = try! Catalog.bundled()

    /// A Llama-shaped model (multi-head attention, SwiGLU, RMSNorm, untied head) with `modules` prediction modules.
    func tiny(modules: Int, layers: Int = 4, vocabulary: Int = 32_000) -> ModelArchitecture {
        var model = ModelArchitecture(
            name: "tiny", hiddenSize: 1024, layers: layers, attentionHeads: 16, ffnSize: 2816,
            vocabularySize: vocabulary, maxPositions: 2048, tiedEmbeddings: false, learnedPositions: false,
            gatedMLP: true, biases: .none, layerNormWithBias: false, dropout: false)
        model.predictionModules = modules
        return model
    }

    func job(_ model: ModelArchitecture, devices: Int = 1) throws -> TrainingJob {
        TrainingJob(model: model, accelerator: try catalog.accelerator(named: "h100"), devices: devices,
                    sequenceLength: 2048, globalBatchSize: 8)
    }

    /// DeepSeek-V3's module by hand from its config.json: MLA (7168 × 1536, 1536 × 128·192, 7168 × 576,
    /// 512 × 128·256, 128·128 × 7168), the layer's norms (2h, 1536, 512), 256 routed experts and one shared of
    /// 3 × 7168 × 2048, the router (7168 × 256), the projection 2h × h and three norms. With the main model and the
    /// shared embedding and head it gives the 685B of the released weights (671B main model plus 14B of MTP module,
    /// DeepSeek-V3 README; the report §4.2 names D = 1). A module without its MoE (a dense block) is 1.7 % short
    /// and caught.
    @Test func deepSeekModuleByHand() throws {
        let v3 = try catalog.model(named: "deepseek-v3")
        #expect(v3.predictionModules == 1)
        let h = 7168.0
        let attention = h * 1536 + 1536 * 128 * 192 + h * 576 + 512 * 128 * 256 + 128 * 128 * h
        let norms = 2 * h + 1536 + 512
        let expert = 3 * h * 2048
        let hand = attention + norms + expert + h * 256 + 2 * h * h + 3 * h
        let module = v3.predictionModuleParameters(0)
        #expect(module.dense == hand && module.expert == 256 * expert, "\(module)")
        let shared = 2 * h * Double(v3.vocabularySize)
        let released = v3.totalParameters + module.dense + module.expert + shared
        #expect(abs(released / 685e9 - 1) < 0.01, "\(released)")
        let denseBlock = attention + norms + 3 * h * 18_432 + 2 * h * h + 3 * h
        #expect(abs((v3.totalParameters + denseBlock + shared) / 685e9 - 1) > 0.01)
    }

    /// One module adds, per sequence, 3 × (2s(4h² + 3hf + 2h²) + 2s²·2h + 2sVh) FLOPs: its block, its projection,
    /// its attention scores and a second head pass. Leaving out the head pass (a wrong variant) is caught.
    @Test func stepFLOPsCountTheModule() throws {
        let with = TrainingCostModel(job: try job(tiny(modules: 1))).stepFLOPs(.none).model
        let without = TrainingCostModel(job: try job(tiny(modules: 0))).stepFLOPs(.none).model
        let (s, h, f, v, sequences) = (2048.0, 1024.0, 2816.0, 32_000.0, 8.0)
        let head = 2 * s * v * h
        let hand = sequences * 3 * (2 * s * (4 * h * h + 3 * h * f + 2 * h * h) + 2 * s * s * 2 * h + head)
        #expect(abs((with - without) / hand - 1) < 1e-12)
        #expect(abs((with - without) / (hand - sequences * 3 * head) - 1) > 0.1)
    }

    /// The last stage of a pipeline holds the module (its block, projection and norms), a copy of the embedding it
    /// looks up, and its FP32 logits and block activations; the first stage holds none of it, so charging the module
    /// there (a wrong variant) is caught.
    @Test func theHeadStageHoldsTheModule() throws {
        let layout = TrainingLayout(tp: 1, pp: 2, dp: 1, microBatchSize: 1, schedule: .oneForwardOneBackward,
                                    recompute: .none, zeroStage: 0, sequenceParallel: false)
        let with = TrainingCostModel(job: try job(tiny(modules: 1), devices: 2))
        let without = TrainingCostModel(job: try job(tiny(modules: 0), devices: 2))
        let last = [HeldStage(layers: 2..<4, embedding: false, head: true, inFlight: 1)]
        let first = [HeldStage(layers: 0..<2, embedding: true, head: false, inFlight: 2)]
        let (h, f, v, tokens, e) = (1024.0, 2816.0, 32_000.0, 2048.0, 2.0)
        let moduleParameters = 4 * h * h + 3 * h * f + 2 * h + 2 * h * h + 3 * h
        let a = with.rankMemory(layout, holding: last, microBatches: 8)
        let b = without.rankMemory(layout, holding: last, microBatches: 8)
        let weights = PlannerConstants.weightBytesPerParameter * (moduleParameters + v * h)
        #expect(abs((a.weights - b.weights) / weights - 1) < 1e-12)
        // The block's stored tensors plus its 4h of inputs (two norm inputs, the 2h projection input), and logits.
        let activations = tokens * e * (8 * h + 4 * h + 3 * f) + 2 * e * tokens * h + 4 * tokens * v
        #expect(abs((a.activations - b.activations) / activations - 1) < 1e-12)
        #expect(with.rankMemory(layout, holding: first, microBatches: 8)
            == without.rankMemory(layout, holding: first, microBatches: 8))
    }

    /// The module is a block of the last chunk in the pipeline split: DeepSeek-V3's 61 layers and one module are 62
    /// blocks over 16 chunks, 4 on chunks 0-12 and 3 on 13-15 with the module one of the last's 4 (not 4 layers and
    /// the module there, the wrong variant); a last chunk too short for its modules passes the shortfall back.
    @Test func theModuleTakesALayerSlotOfTheLastChunk() throws {
        let split = TrainingCostModel.chunkLayerCounts(layers: 61, chunks: 16, predictionModules: 1)
        #expect(split == Array(repeating: 4, count: 13) + [3, 3, 3])
        #expect(split != TrainingCostModel.chunkLayerCounts(layers: 61, chunks: 16))
        #expect(TrainingCostModel.chunkLayerCounts(layers: 2, chunks: 2, predictionModules: 3) == [2, 0])
        #expect(TrainingCostModel.chunkLayerCounts(layers: 3, chunks: 3, predictionModules: 2) == [2, 1, 0])
        #expect(TrainingCostModel.chunkLayerCounts(layers: 61, chunks: 1, embeddingAndHeadAsLayers: true,
                                                   predictionModules: 1) == [61])
        // The closed form the search uses for the first and the last stage agrees with the split.
        let meshes = [(2, [2]), (5, Array(2...5)), (13, Array(2...13)), (61, [2, 3, 16])]
        let cases = meshes.flatMap { layers, stages in
            (0...3).flatMap { modules in stages.flatMap { pp in [(layers, modules, pp, false), (layers, modules, pp, true)] } }
        }
        for (layers, modules, pp, asLayers) in cases {
            let model = tiny(modules: modules, layers: layers)
            let cost = TrainingCostModel(job: try job(model, devices: pp), embeddingAndHeadAsLayers: asLayers)
            let counts = TrainingCostModel.chunkLayerCounts(
                layers: layers, chunks: pp, embeddingAndHeadAsLayers: asLayers, predictionModules: modules)
            #expect(counts.reduce(0, +) == layers && counts.allSatisfy { $0 >= 0 })
            #expect(cost.stageRange(pp, firstStage: true) == 0..<counts[0], "\(layers) \(modules) \(pp) \(asLayers)")
            #expect(cost.stageRange(pp, firstStage: false) == (layers - counts[pp - 1])..<layers)
        }
    }

    /// The step's multi-token-prediction term is what the module adds to compute: one more block (as a main-model
    /// layer costs), the head's pass again (as the head costs), and the projection between (a few per cent of a
    /// layer). Without the head pass or without the block (wrong variants) it would fall below their sum.
    @Test func timeTermIsTheModulesShare() throws {
        let layout = TrainingLayout(tp: 1, pp: 1, dp: 1, microBatchSize: 1, schedule: nil, recompute: .none,
                                    zeroStage: 0, sequenceParallel: false)
        func compute(_ model: ModelArchitecture) throws -> TimeBreakdown {
            TrainingCostModel(job: try job(model)).estimate(layout, bubble: ClosedFormBubble()).time
        }
        let module = try compute(tiny(modules: 1))
        let plain = try compute(tiny(modules: 0))
        let term = module.multiTokenPrediction
        #expect(abs((module.compute - plain.compute) / term - 1) < 1e-12)
        let layer = try compute(tiny(modules: 0, layers: 5)).compute - plain.compute
        let head = plain.compute - (try compute(tiny(modules: 0, vocabulary: 8)).compute)
        #expect(term > layer + head && term < 1.35 * layer + head, "\(term) \(layer) \(head)")
        #expect(plain.multiTokenPrediction == 0 && module.total - plain.total >= term)
    }

    /// A config.json's `num_nextn_predict_layers` sets the modules; a negative count names the field and the file.
    @Test func configFieldAndItsBadValue() throws {
        func config(_ depth: Int) throws -> String {
            try temporaryFile("config.json", """
                {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                 "num_hidden_layers": 2, "vocab_size": 100, "max_position_embeddings": 64,
                 "num_nextn_predict_layers": \(depth)}
                """)
        }
        #expect(try catalog.model(named: try config(2)).predictionModules == 2)
        let bad = try config(-1)
        #expect(throws: PlannerError.invalidConfigField(
            field: "num_nextn_predict_layers", path: bad, reason: "must be 0 or more, got -1")) {
            try catalog.model(named: bad)
        }
    }

    /// DeepSeek-V3's published mesh: the module runs on DualPipe's rank 0, the slowest (it holds the embedding, the
    /// head and the module), and `--explain` prints the term; a model without modules prints no such row.
    @Test func explainShowsTheTerm() throws {
        let job = TrainingJob(
            model: try catalog.model(named: "deepseek-v3"), accelerator: try catalog.accelerator(named: "h800"),
            devices: 2048, sequenceLength: 4096, globalBatchSize: 15_360, computeFormat: .fp8)
        let text = "tp1 pp16 dp128 ep64 mbs1 dualpipe recompute:none zero1"
        let given = try TrainingSearch.estimate(
            TrainingLayout(summary: text, profile: .deepSeekV3), of: job, profile: .deepSeekV3)
        #expect(given.time.multiTokenPrediction > 0.05 * given.stepTime, "\(given.time)")
        #expect(given.comparisonTable(with: given, titles: ("a", "b")).contains("of which multi-token prediction"))
        let plain = try TrainingSearch.estimate(
            TrainingLayout(summary: "tp1 pp1 dp1 mbs1", profile: .everything), of: try self.job(tiny(modules: 0)),
            profile: .everything)
        #expect(!plain.comparisonTable(with: plain, titles: ("a", "b")).contains("multi-token"))
    }
}
