import Foundation

/// What `tessera bench generate` prints and writes: per model and thread count, Tessera's and llama.cpp's runs side
/// by side, and the rows the engine cannot measure yet with the reason.
public struct GenerateBenchReport: Codable, Sendable {
    /// One model at one thread count.
    public struct Row: Codable, Sendable {
        public var model: String
        /// Threads of the single rank (batch 1, tp 1).
        public var threads: Int
        public var tessera: GenerateBench.Run
        /// `nil` when the peer was skipped.
        public var llamaCpp: GenerateBench.Run?

        public init(model: String, threads: Int, tessera: GenerateBench.Run, llamaCpp: GenerateBench.Run?) {
            (self.model, self.threads, self.tessera, self.llamaCpp) = (model, threads, tessera, llamaCpp)
        }
    }

    /// A configuration the table names but does not measure yet.
    public struct Unavailable: Codable, Sendable {
        public var setting: String
        public var reason: String
    }

    public var benchmark = "generate"
    public var date: String
    public var machine: String
    public var loadAverage: String
    public var command: String
    public var promptTokens: Int
    public var decodeTokens: Int
    public var rows: [Row]
    public var unavailable: [Unavailable]

    public init(date: String, machine: String, loadAverage: String, command: String, promptTokens: Int, decodeTokens: Int,
                rows: [Row], unavailable: [Unavailable]) {
        (self.date, self.machine, self.loadAverage, self.command) = (date, machine, loadAverage, command)
        (self.promptTokens, self.decodeTokens, self.rows, self.unavailable) = (promptTokens, decodeTokens, rows, unavailable)
    }

    /// The rows that `tessera bench generate` names but does not measure yet (the engine runs both; the bench's
    /// worker does not drive them).
    public static let pendingSettings = [
        Unavailable(setting: "decode, batch 8 (2 threads)",
                    reason: "not measured here yet: the engine decodes batches (tessera generate --batch-file)"),
        Unavailable(setting: "tp 2 (1 thread per rank) vs tp 1 (2 threads)",
                    reason: "not measured here yet: tessera generate --tp 2 runs SmolLM2 (uneven heads)"),
    ]

    /// The table: for each model and thread count, decode and prefill tokens/s and peak resident memory of both sides
    /// and Tessera's ratio to llama.cpp (above 1 is faster for the rates, larger for memory).
    public var table: String {
        var cells = [["model", "threads", "measure", "Tessera", "llama.cpp", "Tessera / llama.cpp"]]
        for row in rows {
            let name = (row.model as NSString).lastPathComponent
            let measures: [(String, Double, Double?)] = [
                ("decode tokens/s (batch 1)", row.tessera.decodeTokensPerSecond, row.llamaCpp?.decodeTokensPerSecond),
                ("prefill tokens/s (\(promptTokens))", row.tessera.prefillTokensPerSecond, row.llamaCpp?.prefillTokensPerSecond),
                ("peak RSS MiB", Double(row.tessera.peakResidentBytes) / 1_048_576, row.llamaCpp.map { Double($0.peakResidentBytes) / 1_048_576 }),
            ]
            for (measure, ours, peer) in measures {
                cells.append([name, "\(row.threads)", measure, BenchText.fixed(ours, 1), BenchText.number(peer, 1),
                              BenchText.number(peer.map { ours / $0 }, 2)])
            }
        }
        for setting in unavailable { cells.append(["", "", setting.setting, "–", "–", setting.reason]) }
        return ([
            "tessera bench generate — \(date), \(machine), load average \(loadAverage)",
            "prompt \(promptTokens) tokens at once, then \(decodeTokens) greedy tokens; each run in its own process, back to back",
            "command: \(command)", "",
        ] + BenchText.aligned(cells)).joined(separator: "\n")
    }
}
