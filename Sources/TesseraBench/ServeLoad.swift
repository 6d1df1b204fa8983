import Foundation

/// The load generator of `tessera bench serve`: OpenAI completion requests, streamed and greedy, from `concurrency`
/// client threads at once, each timing the pieces of its answer as they arrive. The same generator drives every
/// server compared.
public struct ServeLoad: Sendable {
    /// One request: its answer and the times of its pieces.
    public struct Result: Codable, Sendable, Equatable {
        public var prompt: Int
        public var text: String
        /// Generated tokens (the usage the server reports; without one, the pieces that carried text).
        public var tokens: Int
        /// From sending the request to the first piece of text.
        public var firstTokenSeconds: Double
        /// Between consecutive pieces of text.
        public var interTokenSeconds: [Double]
        public var seconds: Double
    }

    public var port: Int
    /// The `model` field of each request.
    public var model: String
    public var prompts: [String]
    public var maxTokens: Int

    public init(port: Int, model: String, prompts: [String], maxTokens: Int) {
        (self.port, self.model, self.prompts, self.maxTokens) = (port, model, prompts, maxTokens)
    }

    /// Sends every prompt once, `concurrency` requests in flight (each client thread takes the next prompt when its
    /// answer is complete). Returns the results in prompt order and the wall-clock seconds of the whole load.
    /// - Throws: the first request's failure (``BenchError/serveFailed(reason:)``).
    public func run(concurrency: Int) throws -> (results: [Result], seconds: Double) {
        let state = LoadState(count: prompts.count)
        let done = DispatchGroup()
        let start = ContinuousClock.now
        for _ in 0..<min(concurrency, prompts.count) {
            done.enter()
            Thread { [self] in
                while let index = state.next() {
                    do { state.record(index, try request(index)) } catch { state.fail(error) }
                }
                done.leave()
            }.start()
        }
        done.wait()
        let seconds = BenchStatistics.seconds(ContinuousClock.now - start)
        return (try state.results(), seconds)
    }

    /// One streamed greedy request for prompt `index`.
    public func request(_ index: Int) throws -> Result {
        // `cache_prompt` is llama-server's own switch (Tessera ignores it): every request prefills its prompt, as Tessera,
        // which keeps no prompt cache, always does.
        let body: [String: Any] = [
            "model": model, "prompt": prompts[index], "max_tokens": maxTokens, "temperature": 0, "stream": true,
            "stream_options": ["include_usage": true], "cache_prompt": false,
        ]
        var events = EventLines(), text = "", times: [ContinuousClock.Instant] = [], usage: Int?
        let start = ContinuousClock.now
        let status = try LoopbackHTTP.send(port: port, method: "POST", path: "/v1/completions",
                                           body: Array(try JSONSerialization.data(withJSONObject: body))) { bytes in
            for payload in events.feed(bytes) where payload != "[DONE]" {
                let event = try Self.event(payload)
                if let piece = event.text, !piece.isEmpty {
                    times.append(.now)
                    text += piece
                }
                if let tokens = event.completionTokens { usage = tokens }
            }
        }
        guard status == 200, let first = times.first else {
            throw BenchError.serveFailed(reason: "prompt \(index) got status \(status) and \(times.count) pieces of text from port \(port)")
        }
        return Result(prompt: index, text: text, tokens: usage ?? times.count,
                      firstTokenSeconds: BenchStatistics.seconds(first - start),
                      interTokenSeconds: zip(times.dropFirst(), times).map { BenchStatistics.seconds($0 - $1) },
                      seconds: BenchStatistics.seconds(ContinuousClock.now - start))
    }

    /// The seconds `tessera serve` has spent so far in its model's steps and in its scheduler's work around them (the
    /// sums of its `tessera_step_engine_seconds` and `tessera_step_scheduling_seconds` histograms); `nil` from a server
    /// that does not report them (llama-server).
    public func stepSeconds() -> (engine: Double, scheduling: Double)? {
        var body: [UInt8] = []
        guard (try? LoopbackHTTP.send(port: port, method: "GET", path: "/metrics") { body += $0 }) == 200 else { return nil }
        return Self.stepSeconds(inMetrics: String(decoding: body, as: UTF8.self))
    }

    /// The step seconds of ``stepSeconds()`` in a Prometheus text exposition.
    package static func stepSeconds(inMetrics text: String) -> (engine: Double, scheduling: Double)? {
        func sum(_ name: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(name + "_sum ") }.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        }
        guard let engine = sum("tessera_step_engine_seconds"), let scheduling = sum("tessera_step_scheduling_seconds") else { return nil }
        return (engine, scheduling)
    }

    /// The text of a completion stream event's first choice and the usage's completion tokens, when present.
    /// - Throws: ``BenchError/serveFailed(reason:)`` for an event that is not a JSON object or carries an error.
    package static func event(_ payload: String) throws -> (text: String?, completionTokens: Int?) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any] else {
            throw BenchError.serveFailed(reason: "a stream event is not a JSON object: \(payload.prefix(200))")
        }
        if let error = object["error"] { throw BenchError.serveFailed(reason: "the server streamed an error: \(error)") }
        let text = ((object["choices"] as? [[String: Any]])?.first?["text"]) as? String
        let tokens = ((object["usage"] as? [String: Any])?["completion_tokens"]) as? Int
        return (text, tokens)
    }

    /// Sixteen prompts of about ten tokens each, the same for every server; SmolLM2-135M-Instruct continues each for 64
    /// greedy tokens without an end-of-text token.
    public static let prompts: [String] = [
        "Once upon a time, in a village by the sea, there lived",
        "The three most important things to know about the weather are",
        "Write a short letter to a friend about your summer holiday.",
        "Birds fly south in winter because",
        "The history of the bicycle began in the early nineteenth century, when",
        "Here is a simple recipe for bread:",
        "A good way to learn a new language is",
        "The old lighthouse keeper looked out over the stormy water and",
        "Explain to a child why the sky is blue.",
        "List five animals that live in the forest:",
        "In the year 2050, cities will",
        "The best advice my grandmother ever gave me was",
        "Describe the sound of rain on a tin roof. The sound",
        "Step one of planting a tree is",
        "The robot opened its eyes for the first time and",
        "A short poem about the moon:",
    ]
}

/// The shared queue and results of one load: client threads take prompt indices in order and store what they got.
private final class LoadState: @unchecked Sendable {
    private let lock = NSLock()
    private var nextIndex = 0
    private var stored: [ServeLoad.Result?]
    private var failure: (any Error)?

    init(count: Int) { stored = Array(repeating: nil, count: count) }

    /// The next prompt to send; `nil` when all are taken or a request failed.
    func next() -> Int? {
        lock.withLock {
            guard failure == nil, nextIndex < stored.count else { return nil }
            defer { nextIndex += 1 }
            return nextIndex
        }
    }

    func record(_ index: Int, _ result: ServeLoad.Result) { lock.withLock { stored[index] = result } }
    func fail(_ error: any Error) { lock.withLock { failure = failure ?? error } }

    func results() throws -> [ServeLoad.Result] {
        try lock.withLock {
            if let failure { throw failure }
            return stored.compactMap { $0 }
        }
    }
}
