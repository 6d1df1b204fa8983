import Foundation

/// What `tessera bench generate` prints and writes: per model, Tessera's and llama.cpp's batch-1 runs side by side at
/// each thread count, then Tessera's batched and tensor-parallel runs against its own batch-1 run.
public struct GenerateBenchReport: Codable, Sendable {
    /// One model in one setting.
    public struct Row: Codable, Sendable {
        public var model: String
        /// Compute threads of each rank.
        public var threads: Int
        /// Sequences decoded together.
        public var batch: Int
        /// Tensor-parallel ranks.
        public var tp: Int
        public var tessera: GenerateBench.Run
        /// `nil` when the peer was skipped or does not run the setting (batch or tp above 1).
        public var llamaCpp: GenerateBench.Run?

        public init(model: String, threads: Int, batch: Int = 1, tp: Int = 1, tessera: GenerateBench.Run, llamaCpp: GenerateBench.Run?) {
            (self.model, self.threads, self.batch, self.tp, self.tessera, self.llamaCpp) = (model, threads, batch, tp, tessera, llamaCpp)
        }
    }

    public var benchmark = "generate"
    public var date: String
    public var machine: String
    public var loadAverage: String
    public var command: String
    public var promptTokens: Int
    public var decodeTokens: Int
    /// The key/value cache type of every run (`f16`, `f32` or `q8_0`), both sides.
    public var kvCacheType: String
    public var rows: [Row]

    public init(date: String, machine: String, loadAverage: String, command: String, promptTokens: Int, decodeTokens: Int,
                kvCacheType: String, rows: [Row]) {
        (self.date, self.machine, self.loadAverage, self.command) = (date, machine, loadAverage, command)
        (self.promptTokens, self.decodeTokens, self.kvCacheType, self.rows) = (promptTokens, decodeTokens, kvCacheType, rows)
    }

    /// The table: batch-1 rows give decode and prefill tokens/s and peak resident memory of both sides and Tessera's
    /// ratio to llama.cpp (above 1 is faster for the rates, larger for memory); a batch row gives the aggregate
    /// decode tokens/s of all its sequences against batch 1 at the same threads; a tp row its decode tokens/s against
    /// tp 1 with as many threads as its ranks have together.
    public var table: String {
        var cells = [["model", "threads", "measure", "Tessera", "llama.cpp", "ratio"]]
        for row in rows {
            let name = (row.model as NSString).lastPathComponent, threads = row.tp > 1 ? "\(row.threads) per rank" : "\(row.threads)"
            for (measure, ours, reference, against) in measures(row) {
                let peer = against == "llama.cpp" ? reference : nil
                let ratio = reference.map { BenchText.fixed(ours / $0, 2) + "× " + against } ?? "–"
                cells.append([name, threads, measure, BenchText.fixed(ours, 1), BenchText.number(peer, 1), ratio])
            }
        }
        return ([
            "tessera bench generate — \(date), \(machine), load average \(loadAverage)",
            "prompt \(promptTokens) tokens per sequence (in chunks), then \(decodeTokens) greedy steps of every sequence (never stopping early); each run in its own process, back to back",
            "key/value cache \(kvCacheType) on both sides (llama.cpp's --cache-type-k/v, Tessera's --kv-cache-type)",
            "command: \(command)", "",
        ] + BenchText.aligned(cells)).joined(separator: "\n")
    }

    /// A row's measures: (name, Tessera's value, the reference value, what the reference is).
    private func measures(_ row: Row) -> [(String, Double, Double?, String)] {
        let ours = row.tessera
        if row.batch > 1 {
            let single = rows.first { $0.model == row.model && $0.threads == row.threads && $0.batch == 1 && $0.tp == row.tp }
            return [("aggregate decode tokens/s (batch \(row.batch))", ours.decodeTokensPerSecond, single?.tessera.decodeTokensPerSecond, "batch 1"),
                    ("peak RSS MiB (batch \(row.batch))", Self.mebibytes(ours), single.map { Self.mebibytes($0.tessera) }, "batch 1")]
        }
        if row.tp > 1 {
            let single = rows.first { $0.model == row.model && $0.threads == row.threads * row.tp && $0.batch == 1 && $0.tp == 1 }
            return [("decode tokens/s (tp \(row.tp))", ours.decodeTokensPerSecond, single?.tessera.decodeTokensPerSecond, "tp 1"),
                    ("prefill tokens/s (tp \(row.tp))", ours.prefillTokensPerSecond, single?.tessera.prefillTokensPerSecond, "tp 1")]
        }
        let peer = row.llamaCpp
        return [("decode tokens/s (batch 1)", ours.decodeTokensPerSecond, peer?.decodeTokensPerSecond, "llama.cpp"),
                ("prefill tokens/s (\(promptTokens))", ours.prefillTokensPerSecond, peer?.prefillTokensPerSecond, "llama.cpp"),
                ("peak RSS MiB", Self.mebibytes(ours), peer.map(Self.mebibytes), "llama.cpp")]
    }

    private static func mebibytes(_ run: GenerateBench.Run) -> Double { Double(run.peakResidentBytes) / 1_048_576 }
}
