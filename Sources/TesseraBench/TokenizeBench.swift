import Foundation
import TesseraFormats

/// `tessera bench tokenize`: byte-level BPE encoding throughput on a text file (the King James Bible by default,
/// `bible -f Gen1:1-Rev22:21 > data/kjv.txt`), against Hugging Face `tokenizers` (Rust, via Python) encoding the
/// same text with the same tokenizer files in the same run (Tessera in one call, the peer line by line). The floor is
/// one pass over the bytes (UTF-8 validation), the least any tokenizer must do. Medians after a warm-up; one thread.
public enum TokenizeBench {
    /// What `tessera bench tokenize` prints and writes (snake_case keys in JSON).
    public struct Report: Codable {
        public var benchmark = "tokenize"
        public let tokenizer: String
        public let text: String
        public let bytes: Int
        public let tokens: Int
        public let runs: Int
        public var threads = 1
        public let loadSeconds: Double
        public let seconds: Double
        public let utf8FloorSeconds: Double
        public let peerHFTokenizersSeconds: Double?

        public init(tokenizer: String, text: String, bytes: Int, tokens: Int, runs: Int, loadSeconds: Double,
                    seconds: Double, utf8FloorSeconds: Double, peerHFTokenizersSeconds: Double?) {
            (self.tokenizer, self.text, self.bytes, self.tokens, self.runs) = (tokenizer, text, bytes, tokens, runs)
            (self.loadSeconds, self.seconds, self.utf8FloorSeconds) = (loadSeconds, seconds, utf8FloorSeconds)
            self.peerHFTokenizersSeconds = peerHFTokenizersSeconds
        }
    }

    /// Loads `tokenizer` (a tokenizer directory, tokenizer.json or .gguf file) and encodes the UTF-8 file `text`
    /// `runs + 1` times; the first run is the warm-up. Throws ``BenchError/notUTF8(path:)`` for a file that is not
    /// UTF-8. The Hugging Face peer runs when `includePeer`.
    public static func measure(tokenizer path: String, text: String, runs: Int, includePeer: Bool) throws -> Report {
        var tokenizer: (any Tokenizer)? = nil
        let loadSeconds = try BenchStatistics.seconds { tokenizer = try loadTokenizer(path) }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: text)))
        var times: [Double] = [], floors: [Double] = []
        var count = 0
        for run in 0...runs {
            var decoded: String? = nil
            let floor = BenchStatistics.seconds { decoded = String(validating: bytes, as: UTF8.self) }
            guard let decoded else { throw BenchError.notUTF8(path: text) }
            let seconds = try BenchStatistics.seconds { count = try tokenizer!.encode(decoded).count }
            if run > 0 {
                times.append(seconds)
                floors.append(floor)
            }
        }
        let peer = includePeer ? huggingFaceSeconds(tokenizer: path, text: text, runs: runs) : nil
        return Report(tokenizer: path, text: text, bytes: bytes.count, tokens: count, runs: runs,
                      loadSeconds: loadSeconds, seconds: BenchStatistics.median(times),
                      utf8FloorSeconds: BenchStatistics.median(floors), peerHFTokenizersSeconds: peer)
    }

    /// Hugging Face `tokenizers` encoding the file line by line with `encode_batch` (its fast path; one call on
    /// the whole 4 MB text takes it over 15 s here), single-threaded, loaded from the same files.
    static func huggingFaceSeconds(tokenizer: String, text: String, runs: Int) -> Double? {
        Subprocess.pythonSeconds("""
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

extension TokenizeBench.Report {
    /// The table `tessera bench tokenize` prints.
    public var table: String {
        let c = BenchText.cell, megabytes = Double(bytes) / 1e6
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
