import ArgumentParser
import Foundation
import TesseraPlanner

/// `tessera bench plan`: how fast the training-layout search evaluates candidates on one core.
struct PlanBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Time the layout search (candidate layouts evaluated per second, one thread).")

    @Option(help: "Timed runs after one warm-up run.")
    var runs = 5
    @Option(help: "Also write the results as JSON to this file.")
    var json: String?
    @OptionGroup var catalog: CatalogOptions

    /// The jobs timed: large meshes with many valid factorizations.
    static let cases: [(model: String, gpu: String, gpus: Int, sequence: Int, batch: Int)] = [
        ("llama-3-405b", "H100-SXM", 16384, 8192, 2048),
        ("deepseek-v3", "H100-SXM", 2048, 4096, 15360),
        ("gpt3-175b", "A100-80GB", 1024, 2048, 1536),
    ]

    struct Result: Encodable {
        var job: String
        var candidates: Int
        var fitting: Int
        /// Distinct pipeline questions the simulator answered (the rest came from the cache).
        var simulated: Int
        var medianSeconds: Double
        var candidatesPerSecond: Double
        var required: Double
        var ratio: Double
        var runs: Int
        var threads: Int

        enum CodingKeys: String, CodingKey {
            case job, candidates, fitting, simulated, runs, threads, ratio
            case medianSeconds = "median_seconds", candidatesPerSecond = "candidates_per_second"
            case required = "required_candidates_per_second"
        }
    }

    func run() throws {
        let catalog = try catalog.load()
        var results: [Result] = []
        for c in Self.cases {
            let job = TrainingJob(
                model: try catalog.model(named: c.model), accelerator: try catalog.accelerator(named: c.gpu),
                devices: c.gpus, sequenceLength: c.sequence, globalBatchSize: c.batch)
            var plan = try TrainingSearch.run(job)  // warm-up
            var times: [Double] = []
            for _ in 0..<max(runs, 1) {
                let start = DispatchTime.now().uptimeNanoseconds
                plan = try TrainingSearch.run(job)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            let median = times.sorted()[times.count / 2]
            let rate = Double(plan.candidatesEvaluated) / median
            results.append(Result(
                job: "\(c.model) on \(c.gpus) x \(c.gpu), seq \(c.sequence), batch \(c.batch)",
                candidates: plan.candidatesEvaluated, fitting: plan.fittingCount, simulated: plan.bubbleEvaluations,
                medianSeconds: median,
                candidatesPerSecond: rate, required: 100_000, ratio: rate / 100_000, runs: times.count, threads: 1))
        }
        print("Layout search, one thread, median of \(runs) runs after a warm-up. Every candidate gets the memory model;")
        print("those that fit also get the time model; the pipeline simulator times the few that could rank (simulated:")
        print("distinct questions). Requirement: 100,000 candidates in under 1 s (100,000/s).")
        print()
        print(PlanText.table(
            header: ["job", "candidates", "fit", "simulated", "median", "candidates/s", "required/s", "ratio"],
            rows: results.map { r in
                [r.job, "\(r.candidates)", "\(r.fitting)", "\(r.simulated)", PlanText.seconds(r.medianSeconds),
                 String(format: "%.0f", r.candidatesPerSecond), String(format: "%.0f", r.required),
                 String(format: "%.1fx", r.ratio)]
            }))
        if let json { try writeJSON(["plan_search": results], to: json) }
    }
}
