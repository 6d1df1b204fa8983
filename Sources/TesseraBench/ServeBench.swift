import Foundation

/// `tessera bench serve`: one load (``ServeLoad``) at several concurrencies against each server in turn, and the
/// figures the comparison needs: generated tokens/s, time to first token and inter-token latency percentiles, and
/// whether every answer equals the one it got alone.
public enum ServeBench {
    /// One concurrency against one server, over every round.
    public struct Level: Codable, Sendable {
        public var concurrency: Int
        /// Generated tokens of one round (the answers are greedy, so every round generates the same).
        public var generatedTokens: Int
        /// Medians over the rounds.
        public var tokensPerSecond: Double
        public var seconds: Double
        /// Percentiles over every request (time to first token) or every gap between pieces (inter-token) of every round.
        public var firstTokenP50: Double, firstTokenP99: Double
        public var interTokenP50: Double, interTokenP99: Double
        /// Whether every answer of every round equals that prompt's answer at concurrency 1 (the first round).
        public var answersEqualAlone: Bool
        /// Medians over the rounds of the server's own split of a round's time (``ServeLoad/stepSeconds()``): its
        /// model steps, and its scheduler's work around them; `nil` for a server that does not report them.
        public var engineSeconds: Double?, schedulingSeconds: Double?

        package init(concurrency: Int, generatedTokens: Int, tokensPerSecond: Double, seconds: Double, firstTokenP50: Double,
                     firstTokenP99: Double, interTokenP50: Double, interTokenP99: Double, answersEqualAlone: Bool,
                     engineSeconds: Double? = nil, schedulingSeconds: Double? = nil) {
            (self.concurrency, self.generatedTokens, self.tokensPerSecond, self.seconds) = (concurrency, generatedTokens, tokensPerSecond, seconds)
            (self.firstTokenP50, self.firstTokenP99, self.interTokenP50, self.interTokenP99) = (firstTokenP50, firstTokenP99, interTokenP50, interTokenP99)
            (self.answersEqualAlone, self.engineSeconds, self.schedulingSeconds) = (answersEqualAlone, engineSeconds, schedulingSeconds)
        }
    }

    /// Every level of one server.
    public struct ServerRun: Codable, Sendable {
        public var name: String
        public var command: String
        public var levels: [Level]
        /// Each prompt's answer at concurrency 1.
        public var answers: [String]

        package init(name: String, command: String, levels: [Level], answers: [String]) {
            (self.name, self.command, self.levels, self.answers) = (name, command, levels, answers)
        }

        public func level(_ concurrency: Int) -> Level? { levels.first { $0.concurrency == concurrency } }
    }

    /// Runs `load` against the server it points at: one warm-up request, then for each concurrency (the first must be
    /// 1: its answers are the reference) `rounds` rounds of every prompt.
    /// - Throws: ``BenchError/serveFailed(reason:)``.
    public static func measure(_ load: ServeLoad, name: String, command: String, concurrencies: [Int], rounds: Int,
                               progress: (String) -> Void) throws -> ServerRun {
        _ = try load.request(0)
        var alone: [String]?
        var levels: [Level] = []
        for concurrency in concurrencies {
            var rates: [Double] = [], walls: [Double] = [], first: [Double] = [], gaps: [Double] = [], equal = true, tokens = 0
            var engine: [Double] = [], scheduling: [Double] = []
            for round in 0..<rounds {
                let before = load.stepSeconds()
                let (results, seconds) = try load.run(concurrency: concurrency)
                if let before, let after = load.stepSeconds() {
                    engine.append(after.engine - before.engine)
                    scheduling.append(after.scheduling - before.scheduling)
                }
                let texts = results.map(\.text)
                if alone == nil { alone = texts }
                equal = equal && texts == alone
                tokens = results.reduce(0) { $0 + $1.tokens }
                rates.append(Double(tokens) / seconds)
                walls.append(seconds)
                first += results.map(\.firstTokenSeconds)
                gaps += results.flatMap(\.interTokenSeconds)
                progress("\(name), concurrency \(concurrency), round \(round + 1): \(tokens) tokens in \(BenchText.fixed(seconds, 2)) s")
            }
            levels.append(Level(concurrency: concurrency, generatedTokens: tokens, tokensPerSecond: BenchStatistics.median(rates),
                                seconds: BenchStatistics.median(walls),
                                firstTokenP50: BenchStatistics.percentile(first, 50), firstTokenP99: BenchStatistics.percentile(first, 99),
                                interTokenP50: BenchStatistics.percentile(gaps, 50), interTokenP99: BenchStatistics.percentile(gaps, 99), answersEqualAlone: equal,
                                engineSeconds: engine.isEmpty ? nil : BenchStatistics.median(engine),
                                schedulingSeconds: scheduling.isEmpty ? nil : BenchStatistics.median(scheduling)))
        }
        return ServerRun(name: name, command: command, levels: levels, answers: alone ?? [])
    }

    /// `tessera generate` on each prompt alone, one process each: generated tokens per second of prefill and decode
    /// together (model loading excluded), the single-sequence speed a server at concurrency 1 is held to.
    /// - Throws: ``BenchError/serveFailed(reason:)`` when a run fails or prints no timings.
    public static func generateRate(tessera: String, model: String, prompts: [String], maxTokens: Int) throws -> Double {
        var tokens = 0, seconds = 0.0
        for prompt in prompts {
            let output = try Subprocess.run([tessera, "generate", "--model", model, "--prompt", prompt, "--max-new-tokens", "\(maxTokens)", "--json"])
            guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
                  let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let timings = object["timings"] as? [String: Any], let decoded = timings["decoded_tokens"] as? Int,
                  let prefill = timings["prefill_seconds"] as? Double, let decode = timings["decode_seconds"] as? Double else {
                throw BenchError.serveFailed(reason: "tessera generate printed no timings: \(output.suffix(500))")
            }
            tokens += decoded + 1
            seconds += prefill + decode
        }
        return Double(tokens) / seconds
    }
}
