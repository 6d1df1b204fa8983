import ArgumentParser
import TesseraBench

/// `tessera bench tokenize`: the flags of ``TokenizeBench``.
struct BenchTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Time byte-level BPE encoding of a text file against Hugging Face tokenizers.")

    @Option(help: "A tokenizer directory (GPT-2 or Hugging Face), tokenizer.json or .gguf file.")
    var tokenizer: String = "data/gpt2"

    @Option(help: "The UTF-8 text to encode.")
    var text: String = "data/kjv.txt"

    @Option(help: "Timed runs (after one warm-up); the median is reported.")
    var runs: Int = 3

    @Flag(help: "Skip the Hugging Face tokenizers peer.")
    var noPeer = false

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    func run() throws {
        let report: TokenizeBench.Report
        do {
            report = try TokenizeBench.measure(tokenizer: tokenizer, text: text, runs: runs, includePeer: !noPeer)
        } catch BenchError.notUTF8(let path) {
            throw ValidationError("\(path) is not UTF-8")
        }
        print(report.table)
        if let json { try writeJSON(report, to: json, snakeCaseKeys: true) }
    }
}
