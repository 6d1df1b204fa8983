import Foundation
import Testing
import TesseraPlanner

/// The JSON documents of `tessera plan train --json` and `tessera plan serve --json` carry the promised keys.
@Suite struct ReportTests {
    let catalog = try! Catalog.bundled()

    func keys(_ value: some Encodable) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as! [String: Any]
    }

    @Test func trainingJSONHasTheLayoutFields() throws {
        let job = TrainingJob(model: try catalog.model(named: "llama-3-8b"), accelerator: try catalog.accelerator(named: "h100"),
                              devices: 16, sequenceLength: 4096, globalBatchSize: 128)
        let plan = try TrainingSearch.run(job, keep: 5)
        let document = try keys(plan.report(limit: 3))
        let layouts = try #require(document["layouts"] as? [[String: Any]])
        #expect(layouts.count == 3)
        for key in ["tp", "pp", "dp", "cp", "ep", "micro_batch_size", "schedule", "recompute", "zero_stage",
                    "memory_per_gpu_bytes", "step_time_seconds", "tflops_per_gpu", "mfu", "overlap",
                    "context_parallel_kind"] {
            #expect(layouts[0][key] != nil, "missing \(key)")
        }
        let steps = layouts.map { $0["step_time_seconds"] as! Double }
        #expect(steps == steps.sorted())
        #expect(plan.explanation().hasPrefix("Best: "))
    }

    @Test func servingJSONHasTheTotals() throws {
        let job = ServingJob(model: try catalog.model(named: "mixtral-8x7b"), accelerator: try catalog.accelerator(named: "h100"),
                             weightFormat: .fp8, contextLength: 32768, batchSize: 8)
        let plan = try ServingPlanner.run(job)
        let document = try keys(plan.report(limit: 4))
        for key in ["weights_bytes", "kv_cache_bytes", "min_gpus", "layouts"] { #expect(document[key] != nil, "missing \(key)") }
        #expect(document["weights_bytes"] as? Double == job.model.totalParameters)
        #expect(document["kv_cache_bytes"] as? Double == 131_072.0 * 32768 * 8)
        #expect(document["min_gpus"] as? Int == plan.minimumDevices)
        #expect(plan.table(limit: 4).split(separator: "\n").count == 2 + min(4, plan.ranked.count))
    }
}
