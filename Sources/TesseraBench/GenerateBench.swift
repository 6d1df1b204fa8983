import Foundation
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTensor
import TesseraTrain

/// `tessera bench generate`: Tessera and llama.cpp generating from the same GGUF file, each run in a process of its
/// own (so each peak resident memory is that run's alone), back to back in one command: a prompt of fixed token ids
/// (``promptIDs(count:)``) evaluated at once (prefill), then greedy tokens one decode step each.
public enum GenerateBench {
    /// One run's figures (snake_case keys in JSON, as both sides print them).
    public struct Run: Codable, Sendable {
        public var implementation: String
        public var promptTokens: Int
        public var prefillSeconds: Double
        public var prefillTokensPerSecond: Double
        public var decodedTokens: Int
        public var decodeSeconds: Double
        public var decodeTokensPerSecond: Double
        public var peakResidentBytes: Int

        public init(implementation: String, promptTokens: Int, prefillSeconds: Double, prefillTokensPerSecond: Double, decodedTokens: Int,
                    decodeSeconds: Double, decodeTokensPerSecond: Double, peakResidentBytes: Int) {
            (self.implementation, self.promptTokens, self.prefillSeconds, self.prefillTokensPerSecond) =
                (implementation, promptTokens, prefillSeconds, prefillTokensPerSecond)
            (self.decodedTokens, self.decodeSeconds, self.decodeTokensPerSecond, self.peakResidentBytes) =
                (decodedTokens, decodeSeconds, decodeTokensPerSecond, peakResidentBytes)
        }

        enum CodingKeys: String, CodingKey {
            case implementation, promptTokens = "prompt_tokens", prefillSeconds = "prefill_seconds"
            case prefillTokensPerSecond = "prefill_tokens_per_second", decodedTokens = "decoded_tokens"
            case decodeSeconds = "decode_seconds", decodeTokensPerSecond = "decode_tokens_per_second"
            case peakResidentBytes = "peak_resident_bytes"
        }
    }

    /// What a run measures.
    public struct Workload: Sendable {
        public var model: String
        /// Compute threads of each rank.
        public var threads: Int
        public var promptTokens: Int
        public var decodeTokens: Int
        /// Sequences decoded together, each with a prompt of its own.
        public var batch: Int
        /// Tensor-parallel ranks (threads of this process).
        public var tp: Int
        /// How both sides store the key/value cache: F16 by default, llama.cpp's default `--cache-type-k/v`.
        public var cacheType: DType

        public init(model: String, threads: Int, promptTokens: Int, decodeTokens: Int, batch: Int = 1, tp: Int = 1,
                    cacheType: DType = .f16) {
            (self.model, self.threads, self.promptTokens, self.decodeTokens) = (model, threads, promptTokens, decodeTokens)
            (self.batch, self.tp, self.cacheType) = (batch, tp, cacheType)
        }
    }

    /// The prompt both sides evaluate: id `100 + (7919 i) mod 10000` at position `i` (any ids do for timing; fixed
    /// ones make the two sides do the same work). scripts/bench_llama_generate.py uses the same rule. Sequence `s`
    /// of a batch starts `1000 s` positions further along the same rule, so every prompt differs.
    public static func promptIDs(count: Int, sequence: Int = 0) -> [Int32] {
        (0..<count).map { Int32(100 + (7919 * ($0 + 1000 * sequence)) % 10000) }
    }

    /// Tessera's run in this process: loads `workload.model` (weights as `weights` says) on `workload.tp` thread
    /// ranks with `workload.threads` compute threads each, prefills each of the `workload.batch` prompts in chunks
    /// (``MeshEngine/prefill(_:into:pool:chunk:)``, as `tessera generate` does), then decodes `workload.decodeTokens`
    /// greedy steps of every sequence together (never stopping early: the count is fixed, as llama.cpp's bench does).
    /// Decode tokens/s counts every sequence's tokens.
    /// - Throws: model loading errors; ``CollectiveError``.
    public static func measureTessera(_ workload: Workload, weights: WeightFormat) throws -> Run {
        let parallel = try ParallelConfig(tp: workload.tp), location = try ModelLocation(path: workload.model)
        let options = LaunchOptions(ranks: workload.tp, cores: workload.tp * workload.threads)
        let runs = try ThreadLauncher().run(options) { world, threads in
            // One rank runs as a single device, without process groups.
            let split = workload.tp > 1 ? parallel : nil, groups = try split.flatMap { try Trainer.processGroups($0, world: world) }
            let engine = try location.makeEngine(parallel: split, groups: groups, computeThreads: threads, weights: weights)
            return try measure(engine, workload)
        }
        var run = runs[0]
        run.implementation = "Tessera (\(weights == .stored ? "stored weights" : "dequantized"))"
        run.peakResidentBytes = MachineInfo.peakResidentBytes()
        return run
    }

    /// One rank's timed prefill and decode of `workload` on `engine`.
    private static func measure(_ engine: MeshEngine, _ workload: Workload) throws -> Run {
        let capacity = workload.promptTokens + workload.decodeTokens + 1, blockSize = MeshEngine.defaultBlockSize
        let pool = try engine.makeBlockPool(blocks: workload.batch * ((capacity + blockSize - 1) / blockSize), longestSequence: capacity,
                                            cacheType: workload.cacheType)
        let tables = (0..<workload.batch).map { _ in KVBlockTable() }
        let greedy = Sampler(options: SamplingOptions(temperature: 0))
        func next(_ logits: [Float]) -> Int32 { logits.withUnsafeBufferPointer { greedy.sample($0, draw: 0) } }
        let clock = ContinuousClock(), start = clock.now
        var tokens = try tables.enumerated().map { s, table in
            next(try engine.prefill(promptIDs(count: workload.promptTokens, sequence: s), into: table, pool: pool))
        }
        let prefilled = clock.now
        for _ in 0..<workload.decodeTokens {
            let segments = zip(tables, tokens).map { DecodeSegment(sequence: $0, tokens: [$1]) }
            tokens = try engine.decode(segments, pool: pool).map(next)
        }
        let end = clock.now
        let prefill = BenchStatistics.seconds(prefilled - start), decode = BenchStatistics.seconds(end - prefilled)
        let prompt = workload.batch * workload.promptTokens, decoded = workload.batch * workload.decodeTokens
        return Run(implementation: "Tessera", promptTokens: prompt, prefillSeconds: prefill,
                   prefillTokensPerSecond: Double(prompt) / prefill, decodedTokens: decoded, decodeSeconds: decode,
                   decodeTokensPerSecond: Double(decoded) / decode, peakResidentBytes: 0)
    }

    /// Runs `command` and decodes the JSON object it prints on its last line of standard output.
    /// - Throws: ``BenchError/generateRunFailed(command:status:)`` when it fails or prints no such line.
    public static func runProcess(_ command: [String]) throws -> Run {
        let (lastLine, status) = try Subprocess.lastOutputLine(command)
        guard status == 0, let run = try? JSONDecoder().decode(Run.self, from: Data(lastLine.utf8)) else {
            throw BenchError.generateRunFailed(command: command.joined(separator: " "), status: status)
        }
        return run
    }

    /// The arguments of scripts/bench_llama_generate.py for `workload`.
    public static func llamaCommand(python: String, script: String, _ workload: Workload) -> [String] {
        [python, script, "--model", workload.model, "--threads", "\(workload.threads)", "--prompt-tokens", "\(workload.promptTokens)",
         "--decode-tokens", "\(workload.decodeTokens)", "--cache-type", workload.cacheType.rawValue]
    }
}
