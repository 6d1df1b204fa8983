import ArgumentParser
import Foundation
import TesseraBench
import TesseraFormats
import TesseraTrain

/// `tessera generate`: the continuation of a prompt.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's continuation of a prompt (greedy at temperature 0, else sampled, deterministic for a seed).")

    @OptionGroup var model: ModelArguments

    @Option(help: "The text to continue.")
    var prompt: String?

    @Option(name: .customLong("batch-file"), help: "A file of prompts, one per line (UTF-8), decoded together as one batch.")
    var batchFile: String?

    @Option(name: .customLong("max-new-tokens"), help: "Most tokens to generate (fewer when the model ends the text).")
    var maxNewTokens = 128

    @Option(help: "0 is greedy decoding; higher values sample more freely.")
    var temperature: Float = 0

    @Option(name: .customLong("top-k"), help: "Sample among the K most probable tokens.")
    var topK: Int?

    @Option(name: .customLong("top-p"), help: "Sample among the most probable tokens that together reach probability P.")
    var topP: Float?

    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 0

    @OptionGroup var kvCache: KVCacheTypeOption

    @Flag(help: "Wrap the prompt as a user turn in the model's chat template and stop at the end of the assistant's turn.")
    var chat = false

    @Flag(help: "Print {\"text\":…, \"token_ids\":[…], \"timings\":{…}} instead of streaming the text (one line per prompt of a batch, in order; timings of the whole batch).")
    var json = false

    /// The `--json` output.
    struct Output: Encodable {
        var text: String
        var tokenIDs: [Int32]
        var timings: Timings

        enum CodingKeys: String, CodingKey {
            case text, timings
            case tokenIDs = "token_ids"
        }
    }

    /// How long the prompts and the continuations took on rank 0 (a batch's figures are aggregates), and the
    /// process's peak memory.
    struct Timings: Encodable {
        /// Prompts decoded together.
        var sequences: Int
        /// Prompt tokens, and seconds until every prompt's first new token was chosen (the prompts' forward passes).
        var promptTokens: Int, prefillSeconds: Double
        /// New tokens after each prompt's first, and the seconds after the prefill that they took.
        var decodedTokens: Int, decodeSeconds: Double
        /// Peak resident memory of the process (`VmHWM`), in MiB.
        var peakResidentMiB: Double

        var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
        var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(decodedTokens) / decodeSeconds : 0 }

        enum CodingKeys: String, CodingKey {
            case sequences
            case promptTokens = "prompt_tokens", prefillSeconds = "prefill_seconds", decodedTokens = "decoded_tokens"
            case decodeSeconds = "decode_seconds", peakResidentMiB = "peak_rss_mib"
            case prefillTokensPerSecond = "prefill_tokens_per_second", decodeTokensPerSecond = "decode_tokens_per_second"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(sequences, forKey: .sequences)
            try c.encode(promptTokens, forKey: .promptTokens)
            try c.encode(prefillSeconds, forKey: .prefillSeconds)
            try c.encode(decodedTokens, forKey: .decodedTokens)
            try c.encode(decodeSeconds, forKey: .decodeSeconds)
            try c.encode(peakResidentMiB, forKey: .peakResidentMiB)
            try c.encode(prefillTokensPerSecond, forKey: .prefillTokensPerSecond)
            try c.encode(decodeTokensPerSecond, forKey: .decodeTokensPerSecond)
        }

        /// The one-line summary printed on stderr.
        var summary: String {
            (sequences > 1 ? "batch of \(sequences): " : "")
                + String(format: "prompt %d tokens in %.3f s (%.1f tokens/s), %d more tokens in %.3f s (%.1f tokens/s), peak RSS %.0f MiB",
                         promptTokens, prefillSeconds, prefillTokensPerSecond, decodedTokens, decodeSeconds, decodeTokensPerSecond,
                         peakResidentMiB)
        }
    }

    func validate() throws {
        guard (prompt == nil) != (batchFile == nil) else { throw ValidationError("give either --prompt or --batch-file") }
    }

    func run() throws {
        let sampling = SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed)
        try sampling.validate()
        guard maxNewTokens >= 0 else {
            throw TrainingError.invalidOption(option: "--max-new-tokens", reason: "\(maxNewTokens) must not be negative")
        }
        let location = try model.location()
        let config = try location.config()
        let tokenizer = try location.tokenizer().tokenizer
        let stop = ModelLocation.stopTokens(tokenizer: tokenizer, config: config, chat: chat)
        let template = chat ? try location.chatTemplate() : nil
        if chat, template == nil {
            throw TrainingError.invalidOption(option: "--chat", reason: "\(location.path) has no chat template; generate without --chat")
        }
        let promptIDs = try texts().map { text in
            if let template { return try tokenizer.encode(try template.render([ChatMessage(role: "user", content: text)])) }
            return try tokenizer.encode(text, addingSpecialTokens: true)
        }
        let (count, json, stopTokens, batched) = (maxNewTokens, json, stop, batchFile != nil)
        let cacheType = try kvCache.cacheType()
        try model.run(location) { engine, world in
            let printing = world.rank == 0, streaming = printing && !json && !batched
            var stream = TextStream()
            var bytes: [UInt8] = []
            let clock = ContinuousClock(), start = clock.now
            var firstTokens = [ContinuousClock.Instant?](repeating: nil, count: promptIDs.count)
            var generator = try Generator(engine: engine, sampling: sampling)
            generator.kvCacheType = cacheType
            let ids = try generator.generate(
                prompts: promptIDs, maxNewTokens: count, stopTokens: stopTokens) { index, id in
                if firstTokens[index] == nil { firstTokens[index] = clock.now }
                guard streaming else { return }
                bytes += try tokenizer.decodeBytes([id], skippingSpecialTokens: true)
                Console.write(stream.next(bytes))
            }
            guard printing else { return }
            let end = clock.now, prefilled = firstTokens.compactMap { $0 }.max() ?? end
            let timings = Timings(sequences: promptIDs.count, promptTokens: promptIDs.reduce(0) { $0 + $1.count },
                                  prefillSeconds: BenchStatistics.seconds(prefilled - start),
                                  decodedTokens: ids.reduce(0) { $0 + max(0, $1.count - 1) }, decodeSeconds: BenchStatistics.seconds(end - prefilled),
                                  peakResidentMiB: Double(MachineInfo.peakResidentBytes()) / 1_048_576)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for (index, continuation) in ids.enumerated() {
                let text = try tokenizer.decode(continuation, skippingSpecialTokens: true)
                if json {
                    print(String(decoding: try encoder.encode(Output(text: text, tokenIDs: continuation, timings: timings)), as: UTF8.self))
                } else if streaming {
                    print(stream.finish(bytes))
                } else {
                    print("[\(index + 1)] \(text)")
                }
            }
            Console.log(timings.summary)
        }
    }

    /// The prompt, or the batch file's prompts.
    private func texts() throws -> [String] {
        guard let batchFile else { return [prompt ?? ""] }
        guard let data = FileManager.default.contents(atPath: batchFile) else {
            throw TrainingError.invalidOption(option: "--batch-file", reason: "\(batchFile) is not a readable file")
        }
        return try PromptFile.prompts(in: data, path: batchFile)
    }
}
