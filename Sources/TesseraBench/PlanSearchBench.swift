import Dispatch
import TesseraPlanner

/// `tessera bench plan`: how fast the training-layout search evaluates candidates on one core.
public enum PlanSearchBench {
    /// The jobs timed: large meshes with many valid factorizations.
    public static let cases: [(model: String, gpu: String, gpus: Int, sequence: Int, batch: Int)] = [
        ("llama-3-405b", "H100-SXM", 16384, 8192, 2048),
        ("deepseek-v3", "H100-SXM", 2048, 4096, 15360),
        ("gpt3-175b", "A100-80GB", 1024, 2048, 1536),
    ]

    /// The required rate: 100,000 candidates in under a second.
    public static let requiredCandidatesPerSecond = 100_000.0

    /// One job's timing (snake_case keys in JSON).
    public struct Result: Encodable {
        public var job: String
        public var candidates: Int
        public var fitting: Int
        /// Distinct pipeline questions the simulator answered (the rest came from the cache).
        public var simulated: Int
        public var medianSeconds: Double
        public var candidatesPerSecond: Double
        public var required: Double
        public var ratio: Double
        public var runs: Int
        public var threads: Int

        public init(job: String, candidates: Int, fitting: Int, simulated: Int, medianSeconds: Double, candidatesPerSecond: Double,
                    required: Double, ratio: Double, runs: Int, threads: Int) {
            (self.job, self.candidates, self.fitting, self.simulated) = (job, candidates, fitting, simulated)
            (self.medianSeconds, self.candidatesPerSecond, self.required) = (medianSeconds, candidatesPerSecond, required)
            (self.ratio, self.runs, self.threads) = (ratio, runs, threads)
        }

        enum CodingKeys: String, CodingKey {
            case job, candidates, fitting, simulated, runs, threads, ratio
            case medianSeconds = "median_seconds", candidatesPerSecond = "candidates_per_second"
            case required = "required_candidates_per_second"
        }
    }

    /// Times the search on every case of ``cases``: one warm-up run, then `runs` timed runs (at least one);
    /// the median (upper middle of an even count) is reported.
    /// - Throws: the catalog's error for a model or GPU it does not know.
    public static func measure(catalog: Catalog, runs: Int) throws -> [Result] {
        try cases.map { c in
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
            let median = BenchStatistics.middle(times)
            let rate = Double(plan.candidatesEvaluated) / median
            return Result(
                job: "\(c.model) on \(c.gpus) x \(c.gpu), seq \(c.sequence), batch \(c.batch)",
                candidates: plan.candidatesEvaluated, fitting: plan.fittingCount, simulated: plan.bubbleEvaluations,
                medianSeconds: median, candidatesPerSecond: rate, required: requiredCandidatesPerSecond,
                ratio: rate / requiredCandidatesPerSecond, runs: times.count, threads: 1)
        }
    }
}
