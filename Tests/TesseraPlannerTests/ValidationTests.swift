import Testing
import TesseraPipeline
import TesseraPlanner

/// The planner against published runs. Sources are cited at each check.
@Suite(.serialized) struct ValidationTests {
    static let catalog = try! Catalog.bundled()
    static let checks = try! PublishedRuns.checkMegatron(on: try! catalog.accelerator(named: "A100-80GB"))

    /// Narayanan et al. 2021 (SC'21), Table 1: for each row the predicted TFLOP/s per GPU of the published layout
    /// (published tp, pp, micro-batch size and schedule, as run_table_1.sh ran it) is within ±15% of
    /// the published figure, with one efficiency model for all rows (PlannerConstants.matmulEfficiency); the spread
    /// across model sizes comes from the model (attention traffic, communication), not from per-row constants.
    @Test func megatronWeakScalingThroughputWithin15Percent() {
        #expect(Self.checks.count == 10)
        for check in Self.checks {
            #expect(abs(check.ratio - 1) <= 0.15,
                    "\(check.row.billions)B: predicted \(check.published.tflopsPerDevice) vs \(check.row.teraflopsPerGPU)")
        }
        // One constant, not per-row tuning: the ratios straddle 1.
        #expect(Self.checks.contains { $0.ratio > 1 } && Self.checks.contains { $0.ratio < 1 })
    }

    /// The published (tp, pp) ranks among the planner's five best meshes when, as in the paper's own comparisons
    /// (§5.4), only tp and pp change and the rest of the row's recipe stays (run_table_1.sh: micro-batch size,
    /// schedule, Megatron-LM 2021's features). With the micro-batch size and schedule free as well, two rows fall
    /// outside the five, pinned here so that the README's table and `plan validate` change with the model: 18.4B
    /// (tp 8, pp 1) ranks 6th and 39.1B (tp 8, pp 2) 6th, behind tp 1-4 with deep interleaved pipelines and one or
    /// two sequences per micro-batch, which the paper did not measure (its tp and pp were "picked using heuristics",
    /// §5.1). The model-parallel size tp·pp (Narayanan et al.'s M) ranks within the first three on every row.
    @Test func publishedLayoutsRankAmongTheBestFive() {
        let freeMisses: [Double: Int] = [18.4: 6, 39.1: 6]
        for check in Self.checks {
            let rank = check.rankInRecipe ?? Int.max
            #expect(rank <= 5 && check.meetsRequiredRank,
                    "\(check.row.billions)B: published tp\(check.row.tp) pp\(check.row.pp) ranks \(rank)")
            let free = check.rankIn2021Space ?? Int.max
            if let expected = freeMisses[check.row.billions] {
                #expect(free == expected, "\(check.row.billions)B now ranks \(free) free: update the README's table")
            } else {
                #expect(free <= 5, "\(check.row.billions)B: free rank \(free)")
            }
            let product = check.modelParallelRankIn2021Space ?? Int.max
            #expect(product <= 3, "\(check.row.billions)B: tp·pp rank \(product)")
        }
    }

    /// Narayanan et al. 2021 §5.4.1, Figure 13 (162.2B GPT, 64 A100s, dp 1, micro-batch 1, 1F1B): "peak performance
    /// when the tensor-parallel size is equal to the number of GPUs in a single node", at batch 32 and 128. The
    /// deepest pipeline (tp 2, pp 32) gains the most from the larger batch: its bubble, (p-1)/m, shrinks most.
    @Test func figure13TensorParallelWithinANodeIsFastest() throws {
        let a100 = try Self.catalog.accelerator(named: "A100-80GB")
        var gains: [Int: Double] = [:]
        let small = try PublishedRuns.figure13Ranking(batchSize: 32, on: a100)
        let large = try PublishedRuns.figure13Ranking(batchSize: 128, on: a100)
        for ranking in [small, large] {
            #expect(ranking.count == 5)
            #expect(ranking.first.map { $0.layout.tp == 8 && $0.layout.pp == 8 } == true,
                    "fastest: \(ranking.first?.layout.summary ?? "none")")
        }
        for estimate in large {
            let before = small.first { $0.layout.tp == estimate.layout.tp }!.tflopsPerDevice
            gains[estimate.layout.tp] = estimate.tflopsPerDevice / before
        }
        #expect(gains.max { $0.value < $1.value }?.key == 2)
    }

    /// The FLOP count of a step equals Narayanan et al.'s closed forms for GPT: 96·B·s·l·h²(1 + s/6h + V/16lh) with
    /// full recomputation, 72·B·s·l·h²(1 + s/6h + V/12lh) without (their Eq. 3 and §5.1).
    @Test func flopCountsMatchNarayanan() throws {
        for row in PublishedRuns.megatronWeakScaling {
            let job = row.job(on: try Self.catalog.accelerator(named: "a100"))
            let flops = TrainingCostModel(job: job).stepFLOPs(.full)
            let b = Double(row.batchSize), s = 2048.0, l = Double(row.layers), h = Double(row.hiddenSize), v = 51200.0
            #expect(abs(flops.hardware / (96 * b * s * l * h * h * (1 + s / (6 * h) + v / (16 * l * h))) - 1) < 1e-12)
            #expect(abs(flops.model / (72 * b * s * l * h * h * (1 + s / (6 * h) + v / (12 * l * h))) - 1) < 1e-12)
        }
    }

    /// A 70B model in bf16 is served with tensor parallelism on 4-8 H100s: NVIDIA's RAG LLM Operator 24.3.0
    /// platform support lists Llama-2-70b-chat on 4 x H100 80GB (vLLM backend). With 16 sequences of 4096 tokens
    /// the planner needs 4 GPUs; the best layout for throughput per GPU is tp 4, for latency tp 8, both pp 1.
    @Test func seventyBillionServedOnFourToEightH100s() throws {
        let model = try Self.catalog.model(named: "llama-2-70b")
        let h100 = try Self.catalog.accelerator(named: "h100")
        let throughput = try ServingPlanner.run(ServingJob(model: model, accelerator: h100, contextLength: 4096, batchSize: 16))
        #expect(throughput.minimumDevices == 4)
        #expect(throughput.ranked.first?.layout == ServingLayout(tp: 4, pp: 1))
        let latency = try ServingPlanner.run(ServingJob(model: model, accelerator: h100, contextLength: 4096, batchSize: 16,
                                                        objective: .latency))
        #expect(latency.ranked.first?.layout == ServingLayout(tp: 8, pp: 1))
        // The weights alone (one short sequence) fit on two, as the simple "140 GB over 80 GB GPUs" count says.
        let one = try ServingPlanner.run(ServingJob(model: model, accelerator: h100, contextLength: 4096, batchSize: 1))
        #expect(one.minimumDevices == 2)
    }

    /// ≈ 35 GB in 4-bit: one 80 GB H100 serves a 70B model (q4_0-style 4.5 bits with scales: 39 GB).
    @Test func fourBitSeventyBillionFitsOneH100() throws {
        let plan = try ServingPlanner.run(ServingJob(
            model: try Self.catalog.model(named: "llama-2-70b"), accelerator: try Self.catalog.accelerator(named: "h100"),
            weightFormat: .int4, contextLength: 4096, batchSize: 1))
        #expect(plan.minimumDevices == 1)
        #expect(plan.ranked.first?.layout == ServingLayout(tp: 1, pp: 1))
        // Decode is bandwidth-bound: about the weights over 85% of 3.35 TB/s per token.
        let latency = plan.ranked.first!.tokenLatency
        #expect(abs(latency / (38.8e9 / (0.85 * 3.35e12)) - 1) < 0.1)
    }
}
