import ArgumentParser
import Foundation
import TesseraFormats

/// `tessera bench tokenize`: byte-level BPE encoding throughput on a text file (the King James Bible by default,
/// `bible -f Gen1:1-Rev22:21 > data/kjv.txt`), against Hugging Face `tokenizers` (Rust, via Python) encoding the
/// same text with the same tokenizer files in the same run (Tessera in one call, the peer line by line). The floor is
/// one pass over the bytes (UTF-8 validation), the least any tokenizer must do. Medians after a warm-up; one thread.
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

    struct Report: Codable {
        var benchmark = "tokenize"
        let tokenizer: String
        let text: String
        let bytes: Int
        let tokens: Int
        let runs: Int
        var threads = 1
        let loadSeconds: Double
        let seconds: Double
        let utf8FloorSeconds: Double
        let peerHFTokenizersSeconds: Double?
    }

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    func run() throws {
        var tokenizer: (any Tokenizer)? = nil
        let loadSeconds = try FormatBench.seconds { tokenizer = try loadTokenizer(self.tokenizer) }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: text)))
        var times: [Double] = [], floors: [Double] = []
        var count = 0
        for run in 0...runs {
            var decoded: String? = nil
            let floor = FormatBench.seconds { decoded = String(validating: bytes, as: UTF8.self) }
            guard let decoded else { throw ValidationError("\(text) is not UTF-8") }
            let seconds = try FormatBench.seconds { count = try tokenizer!.encode(decoded).count }
            if run > 0 {
                times.append(seconds)
                floors.append(floor)
            }
        }
        let peer = noPeer ? nil : Self.huggingFaceSeconds(tokenizer: self.tokenizer, text: text, runs: runs)
        let report = Report(tokenizer: self.tokenizer, text: text, bytes: bytes.count, tokens: count, runs: runs,
                            loadSeconds: loadSeconds, seconds: TrainingBenchmark.median(times),
                            utf8FloorSeconds: TrainingBenchmark.median(floors), peerHFTokenizersSeconds: peer)
        print(report.table)
        if let json { try writeJSON(report, to: json, snakeCaseKeys: true) }
    }

    /// Hugging Face `tokenizers` encoding the file line by line with `encode_batch` (its fast path; one call on
    /// the whole 4 MB text takes it over 15 s here), single-threaded, loaded from the same files.
    static func huggingFaceSeconds(tokenizer: String, text: String, runs: Int) -> Double? {
        FormatBench.pythonSeconds("""
            import os, statistics, sys, time
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
            from tokenizers import Tokenizer
            from tokenizers.models import BPE
            from tokenizers.pre_tokenizers import ByteLevel
            path = sys.argv[1]
            if os.path.isdir(path) and os.path.exists(os.path.join(path, "tokenizer.json")):
                path = os.path.join(path, "tokenizer.json")
            if path.endswith(".json"):
                tok = Tokenizer.from_file(path)
            elif os.path.isdir(path):
                names = ("vocab.json", "merges.txt") if os.path.exists(os.path.join(path, "vocab.json")) else ("encoder.json", "vocab.bpe")
                tok = Tokenizer(BPE.from_file(*(os.path.join(path, n) for n in names)))
                tok.pre_tokenizer = ByteLevel(add_prefix_space=False)
            else:
                sys.exit(1)
            lines = open(sys.argv[2], encoding="utf-8").read().splitlines(keepends=True)
            times = []
            for i in range(\(runs) + 1):
                t = time.perf_counter()
                tok.encode_batch(lines, add_special_tokens=False)
                times.append(time.perf_counter() - t)
            print(statistics.median(times[1:]))
            """, arguments: [tokenizer, text])
    }
}

extension BenchTokenize.Report {
    var table: String {
        let c = FormatBench.cell, megabytes = Double(bytes) / 1e6
        return """
            tessera bench tokenize: \(text) (\(bytes) bytes) with \(tokenizer)
              \(tokens) tokens; \(threads) thread; median of \(runs) runs after a warm-up; loading the tokenizer took \(c(loadSeconds, 0, 3)) s

              | measure | tessera | floor: validate UTF-8 | HF tokenizers | tessera / HF |
              |---------|---------|-----------------------|---------------|--------------|
              | seconds | \(c(seconds, 7, 3)) | \(c(utf8FloorSeconds, 21, 3)) | \(c(peerHFTokenizersSeconds, 13, 3)) | \(c(peerHFTokenizersSeconds.map { seconds / $0 }, 12, 2)) |
              | MB/s    | \(c(megabytes / seconds, 7, 1)) | \(c(megabytes / utf8FloorSeconds, 21, 1)) | \(c(peerHFTokenizersSeconds.map { megabytes / $0 }, 13, 1)) | \(c(nil, 12, 0)) |
            """
    }
}
