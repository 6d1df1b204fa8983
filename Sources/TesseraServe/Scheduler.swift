import Foundation
import TesseraModels
import TesseraTensor

/// Limits of the running batch and the queue.
public struct SchedulerLimits: Sendable, Equatable {
    /// Most sequences in the running batch.
    public var maxBatch: Int
    /// Most sequences waiting for a place in the batch; more are refused (``ServeError/queueFull(limit:)``).
    public var maxQueue: Int
    /// Most prompt tokens one sequence runs per step (prompts are prefilled in chunks next to running decodes).
    public var prefillChunk: Int
    /// Most prompt tokens of all sequences together per step (but at least one chunk), so running decodes keep a
    /// steady pace.
    public var prefillBudget: Int

    public init(maxBatch: Int = 16, maxQueue: Int = 256, prefillChunk: Int = MeshEngine.defaultPrefillChunk, prefillBudget: Int = 256) {
        self.maxBatch = maxBatch
        self.maxQueue = maxQueue
        self.prefillChunk = prefillChunk
        self.prefillBudget = prefillBudget
    }
}

/// What one step ran, for the metrics.
public struct StepStatistics: Sendable, Equatable {
    public var queued: Int
    public var running: Int
    public var promptTokens: Int
    public var generatedTokens: Int
    /// The key/value pool after the step (each running sequence holds blocks for its prompt and `maxTokens`).
    public var blocks: KVBlockUsage
    /// Wall time of the backend's step (the model, and with several ranks the plan's broadcast).
    public var engineTime: Duration
    /// Wall time of the rest of the step on the scheduler thread: admission, the plan, sampling, the sequences'
    /// events and ends (what the scheduler adds between two model steps).
    public var schedulingTime: Duration
}

/// Continuous batching on one thread: requests queue from any thread (``submit(_:events:)``); the thread that calls
/// ``run()`` owns the running batch and, between steps, admits queued sequences, prefills prompts in chunks next to the
/// running decodes (all of a step's work in one batched call to the backend), samples each sequence with its own
/// options, ends sequences at a stop token or their length, and releases a finished or cancelled sequence's key/value
/// blocks in the very next plan. Sequences wait in the queue until the pool has blocks for them.
public final class Scheduler: @unchecked Sendable {
    public let limits: SchedulerLimits
    private let backend: any DecodeBackend
    /// Called on the scheduler thread after every step that ran something.
    private let observe: @Sendable (StepStatistics) -> Void
    /// Guards `queue`, `cancelled`, `nextSequence` and `stopping`; signalled when work arrives.
    private let condition = NSCondition()
    private var queue: [ScheduledSequence] = []
    private var cancelled: Set<Int> = []
    private var nextSequence = 0
    private var stopping = false
    // Owned by the scheduler thread.
    private var running: [ScheduledSequence] = []
    private var releasing: [Int] = []

    public init(backend: any DecodeBackend, limits: SchedulerLimits, observe: @escaping @Sendable (StepStatistics) -> Void = { _ in }) {
        self.backend = backend
        self.limits = limits
        self.observe = observe
    }

    /// Queues `request`; `events` receives its tokens and its end on the scheduler thread (it must not block).
    /// - Returns: the sequence's id, for ``cancel(_:)``.
    /// - Throws: ``ServeError/queueFull(limit:)``, ``ServeError/shuttingDown``, or ``ServeError/invalidRequest(_:)``
    ///   when the prompt is empty or prompt and `maxTokens` do not fit the context.
    public func submit(_ request: SequenceRequest, events: @escaping @Sendable (SequenceEvent) -> Void) throws -> Int {
        guard !request.prompt.isEmpty, request.maxTokens >= (request.promptLogprobs == nil ? 1 : 0) else {
            throw ServeError.invalidRequest("a sequence needs at least one prompt token, and max_tokens of at least 1 unless it only scores its prompt")
        }
        guard request.prompt.count + request.maxTokens <= backend.contextLength else {
            throw ServeError.invalidRequest("the prompt (\(request.prompt.count) tokens) and max_tokens (\(request.maxTokens)) exceed the model's context of \(backend.contextLength) tokens; shorten the prompt or lower max_tokens")
        }
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw ServeError.shuttingDown }
        guard queue.count < limits.maxQueue else { throw ServeError.queueFull(limit: limits.maxQueue) }
        let id = nextSequence
        nextSequence += 1
        queue.append(ScheduledSequence(id: id, request: request, events: events))
        condition.signal()
        return id
    }

    /// Ends sequence `id` without further events; its caches are freed before the next step. Unknown or finished ids
    /// are ignored.
    public func cancel(_ id: Int) {
        condition.lock()
        defer { condition.unlock() }
        if let index = queue.firstIndex(where: { $0.id == id }) {
            queue.remove(at: index)
        } else {
            cancelled.insert(id)
        }
        condition.signal()
    }

    /// Stops taking requests; ``run()`` returns once the queue and the batch are empty.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    /// Runs steps on the calling thread until ``shutdown()`` and every sequence has ended, then sends a shutdown plan
    /// (which ends the other ranks' loops). While idle it sends an empty plan every `heartbeat` so waiting ranks stay
    /// within their collective deadline.
    public func run(heartbeat: Duration = .seconds(1)) throws {
        let interval = heartbeat.seconds
        while true {
            if try step() { continue }
            condition.lock()
            let done = stopping && queue.isEmpty && running.isEmpty
            var idle = false
            if !done, queue.isEmpty, cancelled.isEmpty {
                idle = !condition.wait(until: Date(timeIntervalSinceNow: interval))
            }
            condition.unlock()
            if done { break }
            if idle { _ = try backend.run(StepPlan()) }
        }
        _ = try backend.run(StepPlan(released: takeReleasing(), shutdown: true))
    }

    /// One step: admissions, cancellations, prefill chunks and decodes; returns `false` when there was nothing to run.
    @discardableResult
    package func step() throws -> Bool {
        let started = ContinuousClock.now
        let (admitted, queued) = admit()
        var plan = StepPlan(released: takeReleasing(), admitted: admitted)
        var budget = limits.prefillBudget, promptTokens = 0
        var stepped: [Int] = []  // indices into `running`, in plan order
        for (index, sequence) in running.enumerated() {
            if let token = sequence.pendingToken {
                plan.work.append(SequenceWork(sequence: sequence.id, tokens: [token]))
            } else {
                // Chunk boundaries depend on the sequence alone (every `prefillChunk` tokens), so its numbers do not
                // change with the batch; the budget only decides which sequences take their next chunk now.
                let chunk = min(limits.prefillChunk, sequence.request.prompt.count - sequence.prefilled)
                guard chunk <= budget || promptTokens == 0 else { continue }
                budget -= chunk
                promptTokens += chunk
                let start = sequence.prefilled
                plan.work.append(SequenceWork(sequence: sequence.id, tokens: Array(sequence.request.prompt[start..<start + chunk]),
                                              logitsOfEveryRow: sequence.request.promptLogprobs != nil))
            }
            stepped.append(index)
        }
        guard !plan.work.isEmpty || !plan.released.isEmpty else { return false }
        let logits: [[Float]], engineStart = ContinuousClock.now
        do {
            logits = try backend.run(plan)
        } catch {
            failAll(ServeError.internalFailure("the model failed: \(error)"))
            return true
        }
        let engineTime = ContinuousClock.now - engineStart
        var generated = 0
        for (position, index) in stepped.enumerated() {
            var next = logits[position]
            if running[index].pendingToken == nil {
                next = running[index].takePrefill(plan.work[position].tokens.count, logits: next, vocabularySize: backend.vocabularySize)
                guard running[index].prefilled == running[index].request.prompt.count else { continue }
                // A sequence that only scores its prompt ends with it.
                guard running[index].request.maxTokens > 0 else {
                    running[index].finishReason = .length
                    continue
                }
            }
            running[index].advance(next)
            generated += 1
        }
        finishEnded()
        observe(StepStatistics(queued: queued, running: running.count, promptTokens: promptTokens, generatedTokens: generated,
                               blocks: backend.blockUsage, engineTime: engineTime,
                               schedulingTime: ContinuousClock.now - started - engineTime))
        return true
    }

    /// Moves queued sequences, first come first served, into free places of the batch while the key/value pool has
    /// blocks for each one's whole capacity (blocks released by this step's plan count from the next step on), and
    /// drops cancelled running ones.
    private func admit() -> (admitted: [SequenceAdmission], queued: Int) {
        condition.lock()
        defer { condition.unlock() }
        let dropped = running.filter { cancelled.contains($0.id) }.map(\.id)
        releasing += dropped
        running.removeAll { cancelled.contains($0.id) }
        cancelled.removeAll()
        let usage = backend.blockUsage
        var free = usage.free, count = 0
        for sequence in queue.prefix(limits.maxBatch - running.count) {
            let needed = usage.blocks(forTokens: sequence.request.prompt.count + sequence.request.maxTokens)
            guard needed <= free else { break }
            free -= needed
            count += 1
        }
        let joining = queue.prefix(count)
        queue.removeFirst(count)
        running += joining
        return (joining.map { SequenceAdmission(sequence: $0.id, capacity: $0.request.prompt.count + $0.request.maxTokens) }, queue.count)
    }

    /// Reports the end of every sequence that stopped or reached its length, and schedules its release.
    private func finishEnded() {
        running.removeAll { sequence in
            guard let reason = sequence.finishReason else { return false }
            releasing.append(sequence.id)
            sequence.events(.finished(reason))
            return true
        }
    }

    private func failAll(_ error: ServeError) {
        for sequence in running {
            releasing.append(sequence.id)
            sequence.events(.failed(error))
        }
        running.removeAll()
    }

    private func takeReleasing() -> [Int] {
        defer { releasing.removeAll() }
        return releasing
    }
}

/// A sequence in the queue or the running batch.
package struct ScheduledSequence {
    package let id: Int
    package let request: SequenceRequest
    package let events: @Sendable (SequenceEvent) -> Void
    package var chooser: TokenChooser
    /// Prompt tokens run so far.
    package var prefilled = 0
    /// The last generated token, which the next step runs; `nil` while prefilling.
    package var pendingToken: Int32?
    package var generated = 0
    package var finishReason: FinishReason?
    /// The prompt tokens scored so far (with ``SequenceRequest/promptLogprobs``).
    private var promptScores: [GeneratedToken] = []

    package init(id: Int, request: SequenceRequest, events: @escaping @Sendable (SequenceEvent) -> Void) {
        self.id = id
        self.request = request
        self.events = events
        self.chooser = TokenChooser(request)
    }

    /// Notes a prefill chunk of `count` prompt tokens and returns the logits after its last token. With
    /// ``SequenceRequest/promptLogprobs``, `logits` holds every row's `[count, vocabularySize]` (row r scores the
    /// prompt token after the chunk's token r), and the prompt's scores are reported once the whole prompt has run.
    package mutating func takePrefill(_ count: Int, logits: [Float], vocabularySize v: Int) -> [Float] {
        let start = prefilled, prompt = request.prompt
        prefilled += count
        guard let top = request.promptLogprobs else { return logits }
        for row in 0..<count where start + row + 1 < prompt.count {
            promptScores.append(TokenChooser.scored(prompt[start + row + 1], logits: Array(logits[row * v..<(row + 1) * v]), top: top))
        }
        if prefilled == prompt.count {
            events(.prompt(promptScores))
            promptScores = []
        }
        return Array(logits[(count - 1) * v..<count * v])
    }

    /// Chooses the next token from `logits`, reports it, and notes whether the sequence has ended.
    package mutating func advance(_ logits: [Float]) {
        let token = chooser.next(logits)
        generated += 1
        pendingToken = token.id
        events(.token(token))
        if request.stopTokens.contains(token.id) {
            finishReason = .stop
        } else if generated >= request.maxTokens {
            finishReason = .length
        }
    }
}
