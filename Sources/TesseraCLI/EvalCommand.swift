import ArgumentParser
import Foundation
import TesseraTrain

/// `tessera eval`: mean next-token loss and perplexity of a model on the start of a text file.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mean next-token loss and perplexity of a model on the first tokens of a UTF-8 text file.",
        discussion: "The text is scored in independent windows of --seq-len tokens; with N tokens, N − 1 targets (N with --bos).")

    @OptionGroup var model: ModelArguments

    @Option(help: "A UTF-8 text file (tokenized with the model's tokenizer; the ids are cached beside it).")
    var data: String

    @Option(name: .customLong("seq-len"), help: "Window length (default: the model's context).")
    var sequenceLength: Int?

    @Option(name: .customLong("max-tokens"), help: "Score only the first N tokens of the text (default: all).")
    var maxTokens: Int?

    @Flag(help: "Put the model's BOS token before the text (it then predicts the first token too).")
    var bos = false

    @Option(name: .customLong("batch-size"), help: "Windows per forward pass.")
    var batchSize = 8

    @Flag(help: "Print {\"loss\":…, \"perplexity\":…, \"tokens\":…} (a mixture of experts adds \"lm_loss\", \"aux_loss\", \"z_loss\").")
    var json = false

    func run() throws {
        if let maxTokens, maxTokens < 1 {
            throw TrainingError.invalidOption(option: "--max-tokens", reason: "\(maxTokens) must be at least 1")
        }
        guard batchSize >= 1 else { throw TrainingError.invalidOption(option: "--batch-size", reason: "\(batchSize) must be at least 1") }
        let location = try model.location()
        let config = try location.config()
        let tokenizer = try location.tokenizer()
        var ids = Array(try tokenizer.ids(ofTextFile: data).ids.prefix(maxTokens ?? .max))
        if bos {
            guard let id = tokenizer.tokenizer.specialTokens.bos ?? config.bosTokenId.map(Int32.init) else {
                throw TrainingError.invalidOption(option: "--bos", reason: "\(location.path) defines no BOS token; evaluate without --bos")
            }
            ids.insert(id, at: 0)
        }
        let (path, length, batch, json, name, scored) = (data, sequenceLength ?? config.contextLength, batchSize, json, tokenizer.name, ids)
        try model.run(location) { engine, world in
            let result = try Evaluation.evaluate(engine, ids: scored, sequenceLength: length, batchSize: batch, path: path, tokenizerName: name)
            guard world.rank == 0 else { return }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                let router = [("lm_loss", result.lmLoss), ("aux_loss", result.auxLoss), ("z_loss", result.zLoss)]
                    .compactMap { name, value in value.map { "  \(name) \(String(format: "%.4f", $0))" } }.joined()
                print("loss \(String(format: "%.4f", result.loss))\(router)  perplexity \(String(format: "%.3f", result.perplexity))  tokens \(result.tokens)")
            }
        }
    }
}
