import Foundation
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
        public var threads: Int
        public var promptTokens: Int
        public var decodeTokens: Int

        public init(model: String, threads: Int, promptTokens: Int, decodeTokens: Int) {
            (self.model, self.threads, self.promptTokens, self.decodeTokens) = (model, threads, promptTokens, decodeTokens)
        }
    }

    /// The prompt both sides evaluate: id `100 + (7919 i) mod 10000` at position `i` (any ids do for timing; fixed
    /// ones make the two sides do the same work). scripts/bench_llama_generate.py uses the same rule.
    public static func promptIDs(count: Int) -> [Int32] {
        (0..<count).map { Int32(100 + (7919 * $0) % 10000) }
    }

    /// Tessera's run in this process: loads `workload.model` (weights as `weights` says) on one rank with
    /// `workload.threads` compute threads, evaluates the prompt into a key/value block pool sized for the run, then decodes
    /// greedily.
    /// - Throws: model loading errors.
    public static func measureTessera(_ workload: Workload, weights: WeightFormat) throws -> Run {
        let engine = try ModelLocation(path: workload.model).makeEngine(groups: nil, computeThreads: workload.threads, weights: weights)
        BLASThreads.set(workload.threads)
        let prompt = promptIDs(count: workload.promptTokens)
        let capacity = workload.promptTokens + workload.decodeTokens + 1, table = KVBlockTable()
        let pool = try engine.makeBlockPool(blocks: (capacity + MeshEngine.defaultBlockSize - 1) / MeshEngine.defaultBlockSize,
                                            longestSequence: capacity)
        func decode(_ tokens: [Int32]) throws -> [Float] { try engine.decode([DecodeSegment(sequence: table, tokens: tokens)], pool: pool)[0] }
        let clock = ContinuousClock(), start = clock.now
        let greedy = Sampler(options: SamplingOptions(temperature: 0))
        func next(_ logits: [Float]) -> Int32 { logits.withUnsafeBufferPointer { greedy.sample($0, draw: 0) } }
        var token = next(try decode(prompt))
        let prefilled = clock.now
        for _ in 0..<workload.decodeTokens {
            token = next(try decode([token]))
        }
        let end = clock.now
        let prefill = BenchStatistics.seconds(prefilled - start), decode = BenchStatistics.seconds(end - prefilled)
        return Run(implementation: "Tessera (\(weights == .stored ? "stored weights" : "dequantized"))",
                   promptTokens: workload.promptTokens, prefillSeconds: prefill, prefillTokensPerSecond: Double(workload.promptTokens) / prefill,
                   decodedTokens: workload.decodeTokens, decodeSeconds: decode,
                   decodeTokensPerSecond: Double(workload.decodeTokens) / decode, peakResidentBytes: MachineInfo.peakResidentBytes())
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
         "--decode-tokens", "\(workload.decodeTokens)"]
    }
}
