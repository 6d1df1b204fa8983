import Foundation

/// What `tessera bench generate` prints and writes: per model, Tessera's and llama.cpp's batch-1 runs side by side at
/// each thread count, then Tessera's batched and tensor-parallel runs against its own batch-1 run; every figure the
/// median over the rounds, every individual run kept in the JSON.
public struct GenerateBenchReport: Codable, Sendable {
    /// One model in one setting, over every round.
    public struct Row: Codable, Sendable {
        public var model: String
        /// Compute threads of each rank.
        public var threads: Int
        /// Sequences decoded together.
        public var batch: Int
        /// Tensor-parallel ranks.
        public var tp: Int
        /// Tessera's runs in round order.
        public private(set) var tesseraRuns: [GenerateBench.Run]
        /// llama.cpp's runs in round order; empty when the peer was skipped or does not run the setting (batch or tp
        /// above 1).
        public private(set) var llamaCppRuns: [GenerateBench.Run]
        /// The median of ``tesseraRuns``, field by field (``GenerateBench/Run/median(of:)``).
        public private(set) var tessera: GenerateBench.Run
        /// The median of ``llamaCppRuns``; `nil` when there are none.
        public private(set) var llamaCpp: GenerateBench.Run?

        /// - Precondition: `tessera` is not empty; `llamaCpp` is empty or has a run for each of Tessera's rounds.
        public init(model: String, threads: Int, batch: Int = 1, tp: Int = 1, tessera: [GenerateBench.Run], llamaCpp: [GenerateBench.Run]) {
            (self.model, self.threads, self.batch, self.tp, tesseraRuns, llamaCppRuns) = (model, threads, batch, tp, tessera, llamaCpp)
            self.tessera = .median(of: tessera)
            self.llamaCpp = llamaCpp.isEmpty ? nil : .median(of: llamaCpp)
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
    /// Rounds: how many times each setting ran.
    public var repeats: Int
    public var rows: [Row]

    public init(date: String, machine: String, loadAverage: String, command: String, promptTokens: Int, decodeTokens: Int,
                kvCacheType: String, repeats: Int = 1, rows: [Row]) {
        (self.date, self.machine, self.loadAverage, self.command) = (date, machine, loadAverage, command)
        (self.promptTokens, self.decodeTokens, self.kvCacheType, self.repeats, self.rows) = (promptTokens, decodeTokens, kvCacheType, repeats, rows)
    }

    /// A measure of a row: its name, how to read it from a run, the row it is compared with (`nil`: none) and that
    /// row's runs (`llamaCppRuns` or `tesseraRuns`), and the comparison's name.
    private struct Measure {
        var name: String
        var value: (GenerateBench.Run) -> Double
        var reference: (median: GenerateBench.Run, runs: [GenerateBench.Run])?
        var against: String
    }

    /// The table: batch-1 rows give decode and prefill tokens/s and peak resident memory of both sides and Tessera's
    /// ratio to llama.cpp (above 1 is faster for the rates, larger for memory); a batch row gives the aggregate
    /// decode tokens/s of all its sequences against batch 1 at the same threads; a tp row its decode tokens/s against
    /// tp 1 with as many threads as its ranks have together. Each value is the median over the rounds and each ratio
    /// the ratio of the medians; with more than one round a last column gives the per-round ratios' minimum and
    /// maximum (round `r` against round `r` of the reference), or Tessera's values' where there is no reference.
    public var table: String {
        var cells = [["model", "threads", "measure", "Tessera", "llama.cpp", "ratio"] + (repeats > 1 ? ["min–max over rounds"] : [])]
        for row in rows {
            let name = (row.model as NSString).lastPathComponent, threads = row.tp > 1 ? "\(row.threads) per rank" : "\(row.threads)"
            for measure in measures(row) {
                let ours = measure.value(row.tessera), reference = measure.reference.map { measure.value($0.median) }
                let peer = measure.against == "llama.cpp" ? reference : nil
                let ratio = reference.map { BenchText.fixed(ours / $0, 2) + "× " + measure.against } ?? "–"
                cells.append([name, threads, measure.name, BenchText.fixed(ours, 1), BenchText.number(peer, 1), ratio]
                             + (repeats > 1 ? [Self.spread(measure, row.tesseraRuns)] : []))
            }
        }
        let runs = repeats > 1
            ? "each setting run \(repeats) times, each run in its own process, in interleaved rounds (every setting once per round), each started once the CPUs were 90 % idle over 0.5 s (at most 20 s waited); values are medians over the rounds, ratios are ratios of medians"
            : "each run in its own process, started once the CPUs were 90 % idle over 0.5 s (at most 20 s waited)"
        return ([
            "tessera bench generate — \(date), \(machine), load average \(loadAverage)",
            "prompt \(promptTokens) tokens per sequence (in chunks), then \(decodeTokens) greedy steps of every sequence (never stopping early); \(runs)",
            "key/value cache \(kvCacheType) on both sides (llama.cpp's --cache-type-k/v, Tessera's --kv-cache-type)",
            "command: \(command)", "",
        ] + BenchText.aligned(cells)).joined(separator: "\n")
    }

    /// The per-round ratios' "min–max×" of `measure` on `runs`, or the values' "min–max" without a reference.
    private static func spread(_ measure: Measure, _ runs: [GenerateBench.Run]) -> String {
        guard let reference = measure.reference else {
            let values = runs.map(measure.value)
            return BenchText.fixed(values.min()!, 1) + "–" + BenchText.fixed(values.max()!, 1)
        }
        let ratios = zip(runs, reference.runs).map { measure.value($0) / measure.value($1) }
        return BenchText.fixed(ratios.min()!, 2) + "–" + BenchText.fixed(ratios.max()!, 2) + "×"
    }

    /// A row's measures, each against llama.cpp (batch 1, tp 1), batch 1 (batch rows) or tp 1 (tp rows).
    private func measures(_ row: Row) -> [Measure] {
        let decode: (GenerateBench.Run) -> Double = \.decodeTokensPerSecond, prefill: (GenerateBench.Run) -> Double = \.prefillTokensPerSecond
        if row.batch > 1 {
            let single = rows.first { $0.model == row.model && $0.threads == row.threads && $0.batch == 1 && $0.tp == row.tp }
            let reference = single.map { ($0.tessera, $0.tesseraRuns) }
            return [Measure(name: "aggregate decode tokens/s (batch \(row.batch))", value: decode, reference: reference, against: "batch 1"),
                    Measure(name: "peak RSS MiB (batch \(row.batch))", value: Self.mebibytes, reference: reference, against: "batch 1")]
        }
        if row.tp > 1 {
            let single = rows.first { $0.model == row.model && $0.threads == row.threads * row.tp && $0.batch == 1 && $0.tp == 1 }
            let reference = single.map { ($0.tessera, $0.tesseraRuns) }
            return [Measure(name: "decode tokens/s (tp \(row.tp))", value: decode, reference: reference, against: "tp 1"),
                    Measure(name: "prefill tokens/s (tp \(row.tp))", value: prefill, reference: reference, against: "tp 1")]
        }
        let peer = row.llamaCpp.map { ($0, row.llamaCppRuns) }
        return [Measure(name: "decode tokens/s (batch 1)", value: decode, reference: peer, against: "llama.cpp"),
                Measure(name: "prefill tokens/s (\(promptTokens))", value: prefill, reference: peer, against: "llama.cpp"),
                Measure(name: "peak RSS MiB", value: Self.mebibytes, reference: peer, against: "llama.cpp")]
    }

    private static func mebibytes(_ run: GenerateBench.Run) -> Double { Double(run.peakResidentBytes) / 1_048_576 }
}
