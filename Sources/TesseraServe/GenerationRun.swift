import Foundation

/// A piece of a response, in the order the choices produce them.
package enum ChoiceOutput {
    /// New text of choice `index` and the log-probabilities of the tokens it covers (`nil` unless asked for).
    case text(index: Int, text: String, logprobs: [LogprobEntry]?)
    /// Choice `index` has ended (exactly once per choice).
    case finish(index: Int, reason: FinishReason)
}

/// One request's sequences in the scheduler: `n` choices per prompt, their events merged into one stream, turned into
/// text with stop strings cut. Cancels every sequence still running when it ends early (client gone, error).
package final class GenerationRun: Sendable {
    package let request: GenerationRequest
    package let prompts: [[Int32]]
    private let model: ServedModel
    private let scheduler: Scheduler
    private let metrics: ServerMetrics?
    private let arrival: ContinuousClock.Instant
    private let sequences: [Int]
    private let events: AsyncStream<(choice: Int, event: SequenceEvent)>

    /// Queues every choice of `request`.
    /// - Throws: ``APIError`` 400 for prompts that do not fit the model; 429 when the queue is full; 503 while
    ///   shutting down (no sequence stays queued then).
    package init(_ request: GenerationRequest, model: ServedModel, scheduler: Scheduler, metrics: ServerMetrics?) throws {
        arrival = .now
        self.request = request
        self.model = model
        self.scheduler = scheduler
        self.metrics = metrics
        prompts = try model.promptIDs(request)
        let (stream, continuation) = AsyncStream.makeStream(of: (choice: Int, event: SequenceEvent).self)
        events = stream
        let stops = request.kind == .chat ? model.chatStops : model.completionStops
        var sequences: [Int] = []
        do {
            for (p, prompt) in prompts.enumerated() {
                for i in 0..<request.n {
                    let choice = p * request.n + i
                    let sequence = SequenceRequest(
                        prompt: prompt,
                        maxTokens: request.maxTokens ?? request.defaultMaxTokens(promptLength: prompt.count, contextLength: model.contextLength),
                        sampling: request.sampling(choice: i), presencePenalty: request.presencePenalty,
                        frequencyPenalty: request.frequencyPenalty, stopTokens: stops, topLogprobs: request.logprobs,
                        promptLogprobs: request.echo ? request.logprobs : nil)
                    sequences.append(try scheduler.submit(sequence) { _ = continuation.yield((choice, $0)) })
                }
            }
        } catch let error as ServeError {
            sequences.forEach(scheduler.cancel)
            throw APIError(error)
        }
        self.sequences = sequences
    }

    package var choiceCount: Int { sequences.count }

    /// Drives every choice to its end, handing each piece to `emit`; returns the usage.
    /// - Throws: ``APIError`` 500 when the model fails; what `emit` throws (a client gone), after cancelling.
    package func run(_ emit: (ChoiceOutput) async throws -> Void) async throws -> Usage {
        var texts = (0..<choiceCount).map { _ in ChoiceText(tokenizer: model.tokenizer, stop: request.stop) }
        var pending = [[LogprobEntry]](repeating: [], count: choiceCount)
        var finished = [Bool](repeating: false, count: choiceCount), remaining = choiceCount
        var lastToken: [ContinuousClock.Instant?] = Array(repeating: nil, count: choiceCount), firstSeen = false
        defer { for (choice, done) in finished.enumerated() where !done { scheduler.cancel(sequences[choice]) } }
        let logprobs = request.logprobs != nil
        if request.echo, !logprobs {
            for choice in 0..<choiceCount { try await emit(.text(index: choice, text: try echo(choice), logprobs: nil)) }
        }
        for await (choice, event) in events where !finished[choice] {
            var reason: FinishReason?, text = ""
            switch event {
            case let .prompt(scored):
                // Echo with logprobs: the prompt comes once its tokens are scored (the first has no score).
                let entries = try ([GeneratedToken(id: prompts[choice / request.n][0])] + scored).map {
                    try LogprobEntry($0, tokenizer: model.tokenizer)
                }
                try await emit(.text(index: choice, text: try echo(choice), logprobs: entries))
                continue
            case let .token(token):
                recordLatency(&lastToken[choice], firstSeen: &firstSeen)
                let update = try texts[choice].append(token)
                text = update.text
                if let entry = update.logprob { pending[choice].append(entry) }
                if update.stopped {
                    scheduler.cancel(sequences[choice])
                    reason = .stop
                }
            case let .finished(end):
                text = texts[choice].finish()
                reason = end
            case let .failed(error):
                throw APIError(error)
            }
            if !text.isEmpty || !pending[choice].isEmpty {
                try await emit(.text(index: choice, text: text, logprobs: logprobs ? pending[choice] : nil))
                pending[choice].removeAll()
            }
            if let reason {
                finished[choice] = true
                try await emit(.finish(index: choice, reason: reason))
                remaining -= 1
                if remaining == 0 { break }
            }
        }
        guard remaining == 0 else { throw CancellationError() }
        return Usage(promptTokens: prompts.reduce(0) { $0 + $1.count }, completionTokens: texts.reduce(0) { $0 + $1.tokenCount })
    }

    /// The prompt text that `echo` puts before choice `choice`'s completion.
    private func echo(_ choice: Int) throws -> String {
        String(decoding: try model.tokenizer.decodeBytes(prompts[choice / request.n], skippingSpecialTokens: true), as: UTF8.self)
    }

    /// Records the time since this choice's last token, or since arrival for the request's first token.
    private func recordLatency(_ last: inout ContinuousClock.Instant?, firstSeen: inout Bool) {
        let now = ContinuousClock.now
        if let previous = last {
            metrics?.interTokenLatency.record(now - previous)
        } else if !firstSeen {
            firstSeen = true
            metrics?.timeToFirstToken.record(now - arrival)
        }
        last = now
    }
}
