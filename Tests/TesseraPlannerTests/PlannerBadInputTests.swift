import Testing
import TesseraPlanner
import TesseraParallel

/// Unknown names, impossible sizes and jobs that fit nowhere end in typed errors or suggestions.
@Suite struct PlannerBadInputTests {
    let catalog = try! Catalog.bundled()

    @Test func unknownGPUSuggestsTheNearest() {
        #expect(throws: PlannerError.unknownAccelerator(
            name: "H10O", suggestion: "H100-SXM", known: catalog.accelerators.map(\.name))) {
            try catalog.accelerator(named: "H10O")
        }
        do {
            _ = try catalog.accelerator(named: "a1OO-80gb")
        } catch let error as PlannerError {
            #expect(error.description.contains("did you mean 'A100-80GB'"))
        } catch { Issue.record("wrong error \(error)") }
        // Nothing close: no suggestion.
        #expect(throws: PlannerError.unknownAccelerator(
            name: "tpu-v5p-pod", suggestion: nil, known: catalog.accelerators.map(\.name))) {
            try catalog.accelerator(named: "tpu-v5p-pod")
        }
    }

    @Test func unknownModelSuggestsTheNearest() {
        do {
            _ = try catalog.model(named: "lama-2-70b")
            Issue.record("accepted an unknown model")
        } catch let error as PlannerError {
            guard case .unknownModel(_, let suggestion, _) = error else { Issue.record("\(error)"); return }
            #expect(suggestion == "llama-2-70b")
        } catch { Issue.record("wrong error \(error)") }
    }

    @Test func impossibleTrainingSizes() throws {
        let model = try catalog.model(named: "llama-2-7b")
        let gpu = try catalog.accelerator(named: "a100")
        #expect(throws: PlannerError.invalidSize(name: "gpus", value: 0, reason: "need at least one GPU")) {
            try TrainingSearch.run(TrainingJob(model: model, accelerator: gpu, devices: 0, sequenceLength: 4096, globalBatchSize: 8))
        }
        #expect(throws: PlannerError.self) {
            try TrainingSearch.run(TrainingJob(model: model, accelerator: gpu, devices: 8, sequenceLength: 0, globalBatchSize: 8))
        }
        #expect(throws: PlannerError.self) {
            try TrainingSearch.run(TrainingJob(model: model, accelerator: gpu, devices: 8, sequenceLength: 4096, globalBatchSize: -1))
        }
        // 6 GPUs for a model with 32 heads and 32 layers: only dp can take a factor of 3, and a batch of 4 is not
        // divisible by 3 or 6: no layout.
        do {
            _ = try TrainingSearch.run(TrainingJob(model: model, accelerator: gpu, devices: 6, sequenceLength: 4096, globalBatchSize: 4))
            Issue.record("a batch of 4 over 6 GPUs was accepted")
        } catch let error as PlannerError {
            guard case .noValidLayout(let reasons) = error else { Issue.record("\(error)"); return }
            #expect(reasons.joined().contains("global batch of 4"))
        }
        // 7 GPUs: 7 divides neither the heads nor the layers of GPT-2 (12 and 12), and no batch of 12 splits over 7.
        #expect(throws: PlannerError.self) {
            try TrainingSearch.run(TrainingJob(model: try catalog.model(named: "gpt2"), accelerator: gpu, devices: 7,
                                               sequenceLength: 1024, globalBatchSize: 12))
        }
    }

    @Test func nothingFitsSaysWhatWould() throws {
        // Llama 3 405B cannot train on 8 A100-40GB; the plan says how many GPUs would do.
        let job = TrainingJob(model: try catalog.model(named: "llama-3-405b"), accelerator: try catalog.accelerator(named: "a100-40gb"),
                              devices: 8, sequenceLength: 4096, globalBatchSize: 64)
        let plan = try TrainingSearch.run(job)
        #expect(plan.ranked.isEmpty && plan.candidatesEvaluated > 0)
        let suggestions = plan.suggestions()
        #expect(suggestions.contains { $0.description.hasPrefix("more GPUs: it fits on TrainingJob.devices = ") })
        #expect(!suggestions.contains { $0.description.contains("--") }, "the library names no flag")
        #expect(plan.report(limit: 5).layouts.isEmpty && !plan.report(limit: 5).suggestions.isEmpty)
    }

    @Test func servingSizesAndSuggestions() throws {
        let model = try catalog.model(named: "llama-3-70b")
        let h100 = try catalog.accelerator(named: "h100")
        #expect(throws: PlannerError.invalidSize(name: "batch", value: 0, reason: "need at least one sequence")) {
            try ServingPlanner.run(ServingJob(model: model, accelerator: h100, batchSize: 0))
        }
        #expect(throws: PlannerError.self) { try ServingPlanner.run(ServingJob(model: model, accelerator: h100, contextLength: -5)) }
        #expect(throws: PlannerError.self) { try ServingPlanner.run(ServingJob(model: model, accelerator: h100, devices: 0)) }
        // bf16 on one H100: nothing fits; fp8/int4, two GPUs, or… would.
        let plan = try ServingPlanner.run(ServingJob(model: model, accelerator: h100, contextLength: 8192, batchSize: 1, devices: 1))
        #expect(plan.ranked.isEmpty)
        let lines = plan.suggestions.map(\.description)
        #expect(lines.contains("more GPUs: it fits on 2 H100-SXM"))
        #expect(lines.contains { $0.hasPrefix("quantization: ServingJob.weightFormat = fp8") })
        #expect(!lines.contains { $0.contains("--") }, "the library names no flag")
        // A long context for many sequences: a shorter context or a smaller batch would fit on one node.
        let long = try ServingPlanner.run(ServingJob(model: model, accelerator: h100, contextLength: 131072, batchSize: 64, devices: 8))
        #expect(long.ranked.isEmpty)
        #expect(long.suggestions.contains { $0.description.hasPrefix("shorter context: ServingJob.contextLength = ") })
        #expect(long.suggestions.contains { $0.description.hasPrefix("smaller batch: ServingJob.batchSize = ") })
    }
}
