import Testing
import TesseraCollectives
import TesseraServe

/// Step plans travel from rank 0 to every rank intact, so every rank runs the same step.
@Suite struct PlanBroadcastTests {
    let plan = StepPlan(released: [3, 1], admitted: [SequenceAdmission(sequence: 7, capacity: 40)],
                        work: [SequenceWork(sequence: 7, tokens: [5, 6, 7], logitsOfEveryRow: true), SequenceWork(sequence: 2, tokens: [9])])

    @Test func aPlanSurvivesEncoding() throws {
        #expect(try PlanBroadcast.decode(PlanBroadcast.encode(plan)) == plan)
        #expect(try PlanBroadcast.decode(PlanBroadcast.encode(StepPlan(shutdown: true))).shutdown)
    }

    @Test func brokenWordsAreRefused() {
        let words = PlanBroadcast.encode(plan)
        #expect(throws: ServeError.self) { try PlanBroadcast.decode(Array(words.dropLast())) }
        #expect(throws: ServeError.self) { try PlanBroadcast.decode(words + [0]) }
        #expect(throws: ServeError.self) { try PlanBroadcast.decode([0, -1]) }
    }

    @Test func everyRankRunsTheSchedulersPlans() throws {
        let backends = [FakeBackend(), FakeBackend(), FakeBackend()]
        let answers = try ThreadGroup.run(ranks: 3, deadline: .seconds(20)) { world -> [Int32] in
            let local = backends[world.rank]
            guard world.rank == 0 else {
                try PlanBroadcast.follow(world: world, backend: local)
                return []
            }
            let scheduler = Scheduler(backend: BroadcastingBackend(local: local, world: world), limits: SchedulerLimits(prefillChunk: 2))
            let log = EventLog()
            _ = try scheduler.submit(SequenceRequest(prompt: [1, 2, 3], maxTokens: 5)) { log.append($0) }
            scheduler.shutdown()
            try scheduler.run(heartbeat: .milliseconds(5))
            return log.tokens
        }
        #expect(answers[0].count == 5)
        #expect(backends[1].plans == backends[0].plans)
        #expect(backends[2].plans == backends[0].plans)
        #expect(backends[1].histories.isEmpty && backends[2].histories.isEmpty)
    }
}
