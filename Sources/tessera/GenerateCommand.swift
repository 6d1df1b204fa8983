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
    var prompt: String

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

    @Flag(help: "Wrap the prompt as a user turn in the model's chat template and stop at the end of the assistant's turn.")
    var chat = false

    @Flag(help: "Print {\"text\":…, \"token_ids\":[…], \"timings\":{…}} instead of streaming the text.")
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

    /// How long the prompt and the continuation took on rank 0, and the process's peak memory.
    struct Timings: Encodable {
        /// Prompt tokens, and seconds until the first new token was chosen (the prompt's forward pass).
        var promptTokens: Int, prefillSeconds: Double
        /// New tokens after the first, and the seconds they took (one decode step each).
        var decodedTokens: Int, decodeSeconds: Double
        /// Peak resident memory of the process (`VmHWM`), in MiB.
        var peakResidentMiB: Double

        var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
        var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(decodedTokens) / decodeSeconds : 0 }

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens", prefillSeconds = "prefill_seconds", decodedTokens = "decoded_tokens"
            case decodeSeconds = "decode_seconds", peakResidentMiB = "peak_rss_mib"
            case prefillTokensPerSecond = "prefill_tokens_per_second", decodeTokensPerSecond = "decode_tokens_per_second"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
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
            String(format: "prompt %d tokens in %.3f s (%.1f tokens/s), %d more tokens in %.3f s (%.1f tokens/s), peak RSS %.0f MiB",
                   promptTokens, prefillSeconds, prefillTokensPerSecond, decodedTokens, decodeSeconds, decodeTokensPerSecond,
                   peakResidentMiB)
        }
    }

    func run() throws {
        let sampling = SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed)
        try sampling.validate()
        guard maxNewTokens >= 0 else {
            throw TrainingError.invalidOption(option: "--max-new-tokens", reason: "\(maxNewTokens) must not be negative")
        }
        let location = try model.location()
        let config = try location.config()
        let choice = try location.tokenizer()
        let tokenizer = choice.tokenizer
        let stop = ModelLocation.stopTokens(tokenizer: tokenizer, config: config, chat: chat)
        let promptIDs: [Int32]
        if chat {
            guard let template = try location.chatTemplate() else {
                throw TrainingError.invalidOption(option: "--chat", reason: "\(location.path) has no chat template; generate without --chat")
            }
            promptIDs = try tokenizer.encode(try template.render([ChatMessage(role: "user", content: prompt)]))
        } else {
            promptIDs = try tokenizer.encode(prompt, addingSpecialTokens: true)
        }
        let (count, json, stopTokens) = (maxNewTokens, json, stop)
        try model.run(location) { engine, world in
            let printing = world.rank == 0
            var stream = TextStream()
            var bytes: [UInt8] = []
            let clock = ContinuousClock(), start = clock.now
            var firstToken: ContinuousClock.Instant?
            let ids = try Generator(engine: engine, sampling: sampling).generate(
                prompt: promptIDs, maxNewTokens: count, stopTokens: stopTokens) { id in
                if firstToken == nil { firstToken = clock.now }
                guard printing, !json else { return }
                bytes += try tokenizer.decodeBytes([id], skippingSpecialTokens: true)
                Console.write(stream.next(bytes))
            }
            guard printing else { return }
            let end = clock.now, first = firstToken ?? end
            let timings = Timings(promptTokens: promptIDs.count, prefillSeconds: BenchStatistics.seconds(first - start),
                                  decodedTokens: max(0, ids.count - 1), decodeSeconds: BenchStatistics.seconds(end - first),
                                  peakResidentMiB: Double(MachineInfo.peakResidentBytes()) / 1_048_576)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                let text = try tokenizer.decode(ids, skippingSpecialTokens: true)
                print(String(decoding: try encoder.encode(Output(text: text, tokenIDs: ids, timings: timings)), as: UTF8.self))
            } else {
                print(stream.finish(bytes))
            }
            Console.log(timings.summary)
        }
    }
}
