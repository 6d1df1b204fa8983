import ArgumentParser
import TesseraFormats

/// `tessera bench tokenize`: byte-level BPE encoding throughput on a text file (the King James Bible by default,
/// `bible -f Gen1:1-Rev22:21 > data/kjv.txt`), against Hugging Face `tokenizers` (Rust, via Python) encoding the
/// same text with the same tokenizer files in the same run, both as one call on the whole text. The machine's limit shown is a single pass reading the text's bytes (UTF-8 validation), the least any
/// tokenizer must do. Medians after a warm-up; one thread on both sides.
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

    func run() throws {
        let loadStart = FormatBench.now
        let tokenizer = try loadTokenizer(self.tokenizer)
        let loadSeconds = FormatBench.now - loadStart
        let bytes = try FormatBench.readFile(text)
        var times: [Double] = [], floors: [Double] = []
        var count = 0
        for run in 0...runs {
            let floorStart = FormatBench.now
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ValidationError("\(self.text) is not UTF-8")
            }
            let start = FormatBench.now
            let ids = try tokenizer.encode(text)
            let end = FormatBench.now
            count = ids.count
            if run > 0 {
                times.append(end - start)
                floors.append(start - floorStart)
            }
        }
        let peer = noPeer ? nil : Self.huggingFaceSeconds(tokenizer: self.tokenizer, text: text, runs: runs)
        let seconds = FormatBench.median(times), megabytes = Double(bytes.count) / 1e6
        print("tessera bench tokenize: \(text) (\(bytes.count) bytes) with \(self.tokenizer)")
        print("  \(count) tokens; 1 thread; median of \(runs) runs after a warm-up; loading the tokenizer took \(FormatBench.cell(loadSeconds, 0)) s")
        print("")
        print("  | measure  | tessera | floor: validate UTF-8 | HF tokenizers | tessera / HF |")
        print("  |----------|---------|-----------------------|---------------|--------------|")
        print("  | seconds  | \(FormatBench.cell(seconds, 7)) | \(FormatBench.cell(FormatBench.median(floors), 21)) | \(FormatBench.cell(peer, 13)) | \(FormatBench.cell(peer.map { seconds / $0 }, 12, digits: 2)) |")
        print("  | MB/s     | \(FormatBench.cell(megabytes / seconds, 7, digits: 1)) | \(FormatBench.cell(megabytes / FormatBench.median(floors), 21, digits: 1)) | \(FormatBench.cell(peer.map { megabytes / $0 }, 13, digits: 1)) | \(FormatBench.cell(nil, 12)) |")
        if let json {
            try FormatBench.write("""
                {"benchmark":"tokenize","tokenizer":"\(self.tokenizer)","text":"\(text)","bytes":\(bytes.count),"tokens":\(count),\
                "runs":\(runs),"load_seconds":\(loadSeconds),"seconds":\(seconds),"utf8_floor_seconds":\(FormatBench.median(floors)),\
                "peer_hf_tokenizers_seconds":\(peer.map { "\($0)" } ?? "null"),"threads":1}

                """, to: json)
        }
    }

    /// Hugging Face `tokenizers` encoding the file in one call (single-threaded), loaded from the same files.
    static func huggingFaceSeconds(tokenizer: String, text: String, runs: Int) -> Double? {
        let script = """
            import os, statistics, sys, time
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
            from tokenizers import Tokenizer
            from tokenizers.models import BPE
            from tokenizers.pre_tokenizers import ByteLevel
            from tokenizers.decoders import ByteLevel as ByteLevelDecoder
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
            text = open(sys.argv[2], encoding="utf-8").read()
            times = []
            for i in range(\(runs) + 1):
                t = time.perf_counter()
                tok.encode(text, add_special_tokens=False)
                times.append(time.perf_counter() - t)
            print(statistics.median(times[1:]))
            """
        return FormatBench.python(script, arguments: [tokenizer, text]).flatMap(Double.init)
    }
}
