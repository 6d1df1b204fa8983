import Foundation
import Testing
import TesseraTrain
import TesseraServe

/// The scheduler against the fake backend: answers independent of the batch, chunked prefill, stops, releases,
/// cancellation and the queue limit.
@Suite struct SchedulerTests {
    func request(_ prompt: [Int32], max: Int = 6, stops: Set<Int32> = []) -> SequenceRequest {
        SequenceRequest(prompt: prompt, maxTokens: max, stopTokens: stops)
    }

    /// Runs every request through one scheduler (steps on this thread) and returns each one's events.
    func runAll(_ requests: [SequenceRequest], limits: SchedulerLimits = SchedulerLimits(maxBatch: 4, prefillChunk: 3, prefillBudget: 5),
                backend: FakeBackend = FakeBackend()) throws -> [EventLog] {
        let scheduler = Scheduler(backend: backend, limits: limits)
        let logs = requests.map { _ in EventLog() }
        for (request, log) in zip(requests, logs) { _ = try scheduler.submit(request) { log.append($0) } }
        while try scheduler.step() {}
        return logs
    }

    let prompts: [[Int32]] = [[1, 2, 3, 4, 5, 6, 7], [9], [4, 4, 4, 4], [10, 11], [3, 1, 4, 1, 5, 9, 2, 6], [8, 8]]

    @Test func eachAnswerEqualsItsSoloAnswer() throws {
        let together = try runAll(prompts.map { request($0) })
        for (prompt, log) in zip(prompts, together) {
            let alone = try runAll([request(prompt)])[0]
            #expect(log.tokens == alone.tokens)
            #expect(log.tokens.count == 6)
            #expect(log.finish == .length)
            #expect(log.endCount == 1)
        }
    }

    /// Whether `scores` are `prompt`'s tokens after the first, each scored (top 2) by the fake model's logits after
    /// the tokens before it.
    func scoredByTheRowBefore(_ scores: [GeneratedToken], prompt: [Int32], backend: FakeBackend) -> Bool {
        scores == (1..<prompt.count).map { i in
            TokenChooser.scored(prompt[i], logits: backend.logits(after: Array(prompt.prefix(i))), top: 2)
        }
    }

    /// Prompt log-probabilities (echo with logprobs): one event before the first token, each prompt token after the
    /// first scored by the row before it, over prefill chunks that alone ask for every row; the answer is the one
    /// without them.
    @Test func promptTokensAreScoredByTheRowBeforeThem() throws {
        let backend = FakeBackend(), prompt = prompts[4]
        var asking = request(prompt)
        asking.promptLogprobs = 2
        let log = try runAll([asking, request(prompts[0])], backend: backend)[0]
        #expect(log.tokens == (try runAll([request(prompt)])[0].tokens))
        guard case .prompt(let scores)? = log.all.first else { Issue.record("no prompt event first: \(log.all)"); return }
        #expect(log.promptScores.count == 1)
        #expect(scoredByTheRowBefore(scores, prompt: prompt, backend: backend))
        let work = backend.plans.flatMap(\.work)
        #expect(work.filter { $0.sequence == 0 && $0.logitsOfEveryRow }.map(\.tokens.count) == [3, 3, 2])
        #expect(work.allSatisfy { $0.sequence == 0 || !$0.logitsOfEveryRow })
    }

    /// max_tokens 0 with prompt log-probabilities only scores the prompt: its event, then the end, no token.
    @Test func aSequenceOfNoTokensOnlyScoresItsPrompt() throws {
        let backend = FakeBackend(), prompt = prompts[4]
        var scoring = SequenceRequest(prompt: prompt, maxTokens: 0, promptLogprobs: 2)
        let log = try runAll([scoring], backend: backend)[0]
        #expect(log.tokens.isEmpty && log.finish == .length && log.endCount == 1)
        #expect(log.promptScores.count == 1 && scoredByTheRowBefore(log.promptScores[0], prompt: prompt, backend: backend))
        scoring.promptLogprobs = nil
        #expect(throws: ServeError.self) { try runAll([scoring]) }
    }

    /// Non-vacuity of the test above: a backend whose rows come one late fails it.
    @Test func promptScoresOneRowLateAreCaught() throws {
        let backend = FakeBackend(), prompt = prompts[4]
        backend.everyRowOneLate = true
        var asking = request(prompt)
        asking.promptLogprobs = 2
        let scores = try runAll([asking], backend: backend)[0].promptScores
        #expect(scores.count == 1 && !scoredByTheRowBefore(scores[0], prompt: prompt, backend: backend))
    }

    @Test func aMixedUpBackendIsCaught() throws {
        let broken = FakeBackend()
        broken.mixSequences = true
        let together = try runAll(prompts.map { request($0) }, backend: broken)
        let alone = try prompts.map { try runAll([request($0)])[0].tokens }
        #expect(together.map(\.tokens) != alone)
    }

    @Test func promptsArePrefilledInChunksWithinTheBudget() throws {
        let backend = FakeBackend()
        _ = try runAll([request([1, 2, 3, 4, 5, 6, 7], max: 2)], limits: SchedulerLimits(maxBatch: 2, prefillChunk: 3, prefillBudget: 5),
                       backend: backend)
        #expect(backend.plans.prefix(4).map { $0.work.map(\.tokens.count) } == [[3], [3], [1], [1]])
        for plan in backend.plans { #expect(plan.work.reduce(0) { $0 + $1.tokens.count } <= 5) }
    }

    @Test func chunkBoundariesDoNotDependOnTheBatch() throws {
        let limits = SchedulerLimits(maxBatch: 4, prefillChunk: 3, prefillBudget: 5)
        let alone = FakeBackend(), together = FakeBackend()
        _ = try runAll([request(prompts[4])], limits: limits, backend: alone)
        _ = try runAll([request(prompts[4]), request(prompts[0]), request(prompts[2])], limits: limits, backend: together)
        let work = { (backend: FakeBackend) in backend.plans.flatMap { $0.work.filter { $0.sequence == 0 }.map(\.tokens) } }
        #expect(work(alone) == work(together))
        #expect(work(alone).prefix(3).map(\.count) == [3, 3, 2])
    }

    @Test func aStopTokenEndsTheSequenceAndItsCachesAreReleasedInTheNextPlan() throws {
        let backend = FakeBackend()
        let first = try runAll([request([9])])[0].tokens
        let logs = try runAll([request([9], stops: [first[2]])], backend: backend)
        #expect(logs[0].tokens == Array(first.prefix(3)))
        #expect(logs[0].finish == .stop)
        #expect(backend.plans.last?.released == [0])
        #expect(backend.histories.isEmpty)
    }

    @Test func theBatchNeverExceedsItsLimit() throws {
        let backend = FakeBackend()
        _ = try runAll(prompts.map { request($0) }, limits: SchedulerLimits(maxBatch: 2, prefillChunk: 4, prefillBudget: 8), backend: backend)
        var live = Set<Int>()
        for plan in backend.plans {
            live.subtract(plan.released)
            live.formUnion(plan.admitted.map(\.sequence))
            #expect(live.count <= 2)
        }
        #expect(live.isEmpty)
    }

    /// Admission by free key/value blocks: with 8 blocks of 4 tokens (each request below holds 2 to 4 for its
    /// prompt and 6 tokens), the running sequences never hold more than 8 and fewer than the batch limit of 4 run
    /// at once; every answer still equals its solo answer, and every block is free at the end.
    @Test func admissionWaitsForFreeBlocks() throws {
        let backend = FakeBackend(blocks: 8)
        let logs = try runAll(prompts.map { request($0) }, backend: backend)
        var live = Set<Int>(), most = 0
        for plan in backend.plans {
            live.subtract(plan.released)
            live.formUnion(plan.admitted.map(\.sequence))
            most = max(most, live.count)
            #expect(live.reduce(0) { $0 + backend.blockUsage.blocks(forTokens: backend.capacities[$1]!) } <= 8)
        }
        #expect(most < 4)
        #expect(backend.blockUsage.free == 8)
        for (prompt, log) in zip(prompts, logs) { #expect(log.tokens == (try runAll([request(prompt)])[0].tokens)) }
    }

    @Test func cancellingFreesTheCachesAndEndsTheEvents() throws {
        let backend = FakeBackend()
        let scheduler = Scheduler(backend: backend, limits: SchedulerLimits(maxBatch: 1))
        let running = EventLog(), queued = EventLog()
        let a = try scheduler.submit(request([1, 2], max: 50)) { running.append($0) }
        let b = try scheduler.submit(request([3], max: 50)) { queued.append($0) }
        try scheduler.step()
        try scheduler.step()
        scheduler.cancel(b)
        scheduler.cancel(a)
        let seen = running.all.count
        try scheduler.step()
        #expect(backend.plans.last?.released == [a])
        #expect(backend.histories.isEmpty)
        #expect(running.all.count == seen)
        #expect(queued.all.isEmpty)
        #expect(try !scheduler.step())
    }

    @Test func aFullQueueRefusesWithQueueFull() throws {
        let scheduler = Scheduler(backend: FakeBackend(), limits: SchedulerLimits(maxBatch: 1, maxQueue: 2))
        _ = try scheduler.submit(request([1])) { _ in }
        _ = try scheduler.submit(request([2])) { _ in }
        #expect(throws: ServeError.queueFull(limit: 2)) { try scheduler.submit(request([3])) { _ in } }
        scheduler.shutdown()
        #expect(throws: ServeError.shuttingDown) { try scheduler.submit(request([3])) { _ in } }
    }

    @Test func aRequestOverTheContextIsRefused() throws {
        let scheduler = Scheduler(backend: FakeBackend(contextLength: 8), limits: SchedulerLimits())
        #expect(throws: ServeError.self) { try scheduler.submit(request([1, 2, 3], max: 6)) { _ in } }
        #expect(throws: ServeError.self) { try scheduler.submit(request([], max: 2)) { _ in } }
    }

    @Test func aSeededSampledSequenceIsReproducible() throws {
        var sampled = request([5, 6], max: 8)
        sampled.sampling = SamplingOptions(temperature: 1.5, seed: 42)
        let alone = try runAll([sampled])[0].tokens
        let together = try runAll([request([1]), sampled, request([2, 3])])[1].tokens
        #expect(alone == together)
        sampled.sampling.seed = 43
        #expect(try runAll([sampled])[0].tokens != alone)
    }

    @Test func theRunLoopDrainsAndSendsAShutdownPlan() throws {
        let backend = FakeBackend()
        let scheduler = Scheduler(backend: backend, limits: SchedulerLimits())
        let log = EventLog()
        _ = try scheduler.submit(request([1, 2], max: 4)) { log.append($0) }
        scheduler.shutdown()
        try scheduler.run(heartbeat: .milliseconds(10))
        #expect(log.tokens.count == 4)
        #expect(backend.plans.last?.shutdown == true)
        #expect(backend.histories.isEmpty)
    }

    @Test func eachStepSplitsItsTimeBetweenTheModelAndTheScheduler() throws {
        let backend = FakeBackend()
        backend.stepDelay = 0.05
        let steps = StepLog()
        let scheduler = Scheduler(backend: backend, limits: SchedulerLimits()) { steps.append($0) }
        _ = try scheduler.submit(request([1, 2], max: 2)) { _ in }
        while try scheduler.step() {}
        // Prefill with the first token, the second token, then the release.
        #expect(steps.all.count == 3)
        for step in steps.all {
            #expect(step.engineTime >= .milliseconds(50))
            #expect(step.schedulingTime >= .zero && step.schedulingTime < .milliseconds(50))
        }
    }
}

/// The statistics of every step, as a scheduler reports them.
final class StepLog: @unchecked Sendable {
    private let lock = NSLock()
    private var steps: [StepStatistics] = []

    func append(_ step: StepStatistics) { lock.withLock { steps.append(step) } }
    var all: [StepStatistics] { lock.withLock { steps } }
}
