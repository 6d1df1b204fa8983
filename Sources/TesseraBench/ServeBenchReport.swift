import Foundation

/// What `tessera bench serve` prints and writes: each server's levels side by side, and the comparisons the issue
/// sets targets for.
public struct ServeBenchReport: Codable, Sendable {
    public var benchmark = "serve"
    public var date: String
    public var machine: String
    public var loadAverage: String
    public var command: String
    public var prompts: Int
    public var maxTokens: Int
    /// Tokens of context each sequence may hold (llama-server: `-c` is this times its slots).
    public var contextPerSequence: Int
    /// Tessera first, then the peer when it ran.
    public var servers: [ServeBench.ServerRun]
    /// `tessera generate` on each prompt alone (tokens/s); `nil` when skipped.
    public var generateTokensPerSecond: Double?

    public init(date: String, machine: String, loadAverage: String, command: String, prompts: Int, maxTokens: Int,
                contextPerSequence: Int, servers: [ServeBench.ServerRun], generateTokensPerSecond: Double?) {
        (self.date, self.machine, self.loadAverage, self.command) = (date, machine, loadAverage, command)
        (self.prompts, self.maxTokens, self.contextPerSequence) = (prompts, maxTokens, contextPerSequence)
        (self.servers, self.generateTokensPerSecond) = (servers, generateTokensPerSecond)
    }

    /// The table: a row per server and concurrency, then the ratios with their targets.
    public var table: String {
        var cells = [["server", "concurrency", "tokens/s", "TTFT p50 ms", "TTFT p99 ms", "ITL p50 ms", "ITL p99 ms", "wall s", "model steps s",
                      "scheduler s", "answers = alone"]]
        for server in servers {
            for level in server.levels {
                let ms = { (seconds: Double) in BenchText.fixed(seconds * 1000, 1) }
                cells.append([server.name, "\(level.concurrency)", BenchText.fixed(level.tokensPerSecond, 1), ms(level.firstTokenP50),
                              ms(level.firstTokenP99), ms(level.interTokenP50), ms(level.interTokenP99), BenchText.fixed(level.seconds, 2),
                              BenchText.number(level.engineSeconds, 2), BenchText.number(level.schedulingSeconds, 3),
                              level.answersEqualAlone ? "yes" : "NO"])
            }
        }
        return ([
            "tessera bench serve — \(date), \(machine), load average \(loadAverage)",
            "\(prompts) prompts × \(maxTokens) greedy tokens, streamed, every server driven by the same load generator; context \(contextPerSequence) per sequence",
            "command: \(command)", "",
        ] + BenchText.aligned(cells) + [""] + comparisons).joined(separator: "\n")
    }

    /// Tessera against the peer (second server) and against `generate`, each with its target.
    public var comparisons: [String] {
        guard let ours = servers.first else { return [] }
        var lines: [String] = []
        let ratio = { (a: Double?, b: Double?) in BenchText.number(a.flatMap { a in b.map { a / $0 } }, 2) }
        let widest = ours.levels.map(\.concurrency).max() ?? 1
        if servers.count > 1 {
            let peer = servers[1]
            lines.append("concurrency \(widest): tokens/s \(ours.name) / \(peer.name) = \(ratio(ours.level(widest)?.tokensPerSecond, peer.level(widest)?.tokensPerSecond)) (target ≥ 1.5)")
            lines.append("concurrency \(widest): ITL p99 \(ours.name) / \(peer.name) = \(ratio(ours.level(widest)?.interTokenP99, peer.level(widest)?.interTokenP99)) (target ≤ 1)")
            lines.append("concurrency 1: tokens/s \(ours.name) / \(peer.name) = \(ratio(ours.level(1)?.tokensPerSecond, peer.level(1)?.tokensPerSecond)) (target ≥ 1.0)")
            let same = zip(ours.answers, peer.answers).filter { $0 == $1 }.count
            lines.append("answers identical between the servers: \(same) of \(ours.answers.count) (not a target: different kernels round differently)")
        }
        if let generate = generateTokensPerSecond {
            lines.append("concurrency 1: tokens/s \(ours.name) / tessera generate (\(BenchText.fixed(generate, 1)) tokens/s alone) = \(ratio(ours.level(1)?.tokensPerSecond, generate)) (target ≥ 0.95)")
        }
        if let level = ours.level(widest), let engine = level.engineSeconds, let scheduling = level.schedulingSeconds {
            lines.append("concurrency \(widest), \(ours.name): model steps \(BenchText.fixed(engine / level.seconds * 100, 1)) % of the wall time, its scheduler around them \(BenchText.fixed(scheduling / level.seconds * 100, 1)) %, the rest idle or waiting for requests")
        }
        for server in servers {
            lines.append("\(widest) concurrent vs one by one, \(server.name): \(ratio(server.level(1)?.seconds, server.level(widest)?.seconds))× faster (target ≥ 2)")
        }
        return lines
    }
}
