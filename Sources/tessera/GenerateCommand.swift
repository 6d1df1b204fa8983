import ArgumentParser
import Foundation
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

    @Flag(help: "Print {\"text\":…, \"token_ids\":[…]} instead of streaming the text.")
    var json = false

    /// The `--json` output.
    struct Output: Codable {
        var text: String
        var tokenIDs: [Int32]

        enum CodingKeys: String, CodingKey {
            case text
            case tokenIDs = "token_ids"
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
            let ids = try Generator(engine: engine, sampling: sampling).generate(
                prompt: promptIDs, maxNewTokens: count, stopTokens: stopTokens) { id in
                guard printing, !json else { return }
                bytes += try tokenizer.decodeBytes([id], skippingSpecialTokens: true)
                Console.write(stream.next(bytes))
            }
            guard printing else { return }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                let text = try tokenizer.decode(ids, skippingSpecialTokens: true)
                print(String(decoding: try encoder.encode(Output(text: text, tokenIDs: ids)), as: UTF8.self))
            } else {
                print(stream.finish(bytes))
            }
        }
    }
}
