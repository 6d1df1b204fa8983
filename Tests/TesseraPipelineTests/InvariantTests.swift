import Testing
import TesseraPipeline

/// Every valid configuration with p ≤ 8, m ≤ 32 (and v ≤ 3 for interleaved).
func allConfigs() -> [PipelineScheduleConfig] {
    var configs: [PipelineScheduleConfig] = []
    for p in 1...8 {
        for m in 1...32 {
            for kind in [PipelineScheduleKind.gpipe, .oneForwardOneBackward, .zeroBubbleH1] {
                configs.append(try! PipelineScheduleConfig(kind: kind, stages: p, microBatches: m))
            }
            for v in 1...3 where p >= 2 && m % p == 0 {
                configs.append(try! PipelineScheduleConfig(kind: .interleaved, stages: p, microBatches: m, virtualStages: v))
            }
        }
    }
    return configs
}

@Suite struct InvariantTests {
    @Test func everyGeneratedScheduleSatisfiesTheInvariants() {
        let configs = allConfigs()
        #expect(configs.count == 3 * 8 * 32 + 3 * 53)
        for config in configs {
            let schedule = PipelineSchedule(config)
            let violations = schedule.violations
            #expect(violations.isEmpty, "\(config): \(violations.prefix(3))")
            // Exactly the forwards and backwards the contract asks for, and one send and receive per transfer.
            let computes = schedule.actions.joined().filter { $0.compute != nil }.count
            let transfers = schedule.actions.joined().filter { $0.transfer != nil }.count
            let perChunk = config.kind.splitsBackward ? 3 : 2
            #expect(computes == perChunk * config.microBatches * config.stages * config.virtualStages)
            #expect(transfers == 2 * 2 * config.microBatches * (config.stages * config.virtualStages - 1))
        }
    }

    // Non-vacuity: each kind of damage to a valid schedule is reported.

    private func damaged(_ change: (inout [[PipelineAction]]) -> Void) throws -> [PipelineScheduleViolation] {
        var schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 3, microBatches: 4)
        #expect(schedule.violations.isEmpty)
        change(&schedule.actions)
        return schedule.violations
    }

    @Test func deadlockIsDetected() throws {
        // Rank 0 waits for micro-batch 0's gradient before sending micro-batch 0's activation: the gradient
        // can never come. Counts and local order stay valid, so only the run under executor semantics sees it.
        let found = try damaged { actions in
            let send = actions[0].firstIndex { if case .send = $0 { return true }; return false }!
            let moved = actions[0].remove(at: send)
            let lastReceive = actions[0].lastIndex { if case .receive = $0 { return true }; return false }!
            actions[0].insert(moved, at: lastReceive + 1)
        }
        #expect(found.count == 1)
        guard case let .deadlock(ranks, _)? = found.first else { Issue.record("\(found)"); return }
        #expect(ranks == [0, 1, 2])
        #expect(throws: PipelineError.self) {
            var schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 3, microBatches: 4)
            schedule.actions[1].swapAt(0, 1)  // forward of micro-batch 0 before its input arrives
            try schedule.validate()
        }
    }

    @Test func missingAndDuplicatedComputeIsDetected() throws {
        let missing = try damaged { $0[1].removeAll { $0 == .forward(microBatch: 2, chunk: 0) } }
        #expect(missing.contains(.computeCount(rank: 1, kind: .forward, microBatch: 2, chunk: 0, count: 0)))
        let twice = try damaged { $0[2].append(.backward(microBatch: 3, chunk: 0)) }
        #expect(twice.contains(.computeCount(rank: 2, kind: .backward, microBatch: 3, chunk: 0, count: 2)))
        let outside = try damaged { $0[0].append(.forward(microBatch: 4, chunk: 0)) }
        #expect(outside.contains(.outOfRange(rank: 0, action: .forward(microBatch: 4, chunk: 0))))
    }

    @Test func backwardBeforeForwardIsDetected() throws {
        let found = try damaged { actions in
            let forward = actions[2].firstIndex(of: .forward(microBatch: 1, chunk: 0))!
            let backward = actions[2].firstIndex(of: .backward(microBatch: 1, chunk: 0))!
            actions[2].swapAt(forward, backward)
        }
        #expect(found.contains(.outOfOrder(rank: 2, action: .backward(microBatch: 1, chunk: 0),
                                           mustFollow: .forward(microBatch: 1, chunk: 0))))
    }

    @Test func weightGradientBeforeInputGradientIsDetected() throws {
        var schedule = try PipelineSchedule(.zeroBubbleH1, stages: 2, microBatches: 2)
        let input = schedule.actions[0].firstIndex(of: .backwardInput(microBatch: 0, chunk: 0))!
        let weight = schedule.actions[0].firstIndex(of: .backwardWeight(microBatch: 0, chunk: 0))!
        schedule.actions[0].swapAt(input, weight)
        #expect(schedule.violations.contains(.outOfOrder(rank: 0, action: .backwardWeight(microBatch: 0, chunk: 0),
                                                         mustFollow: .backwardInput(microBatch: 0, chunk: 0))))
        var mixed = try PipelineSchedule(.zeroBubbleH1, stages: 2, microBatches: 2)
        mixed.actions[1].append(.backward(microBatch: 1, chunk: 0))
        #expect(mixed.violations.contains(.mixedBackward(rank: 1, microBatch: 1, chunk: 0)))
    }

    @Test func unmatchedAndMisplacedTransfersAreDetected() throws {
        var dropped: PipelineTransfer?
        let unmatched = try damaged { actions in
            let index = actions[1].firstIndex { if case .send = $0 { return true }; return false }!
            dropped = actions[1].remove(at: index).transfer
        }
        #expect(unmatched.contains(.unmatchedTransfer(dropped!, sends: 0, receives: 1)))
        // A receive on the wrong rank, and a gradient that skips a model chunk.
        let transfer = PipelineTransfer(kind: .activation, microBatch: 0, source: PipelineLocation(rank: 0, chunk: 0),
                                        destination: PipelineLocation(rank: 1, chunk: 0))
        let wrongRank = try damaged { $0[2].insert(.receive(transfer), at: 0) }
        #expect(wrongRank.contains { if case .misplacedTransfer(rank: 2, _, _) = $0 { return true }; return false })
        let skipping = PipelineTransfer(kind: .gradient, microBatch: 0, source: PipelineLocation(rank: 2, chunk: 0),
                                        destination: PipelineLocation(rank: 0, chunk: 0))
        let skipped = try damaged { $0[2].append(.send(skipping)) }
        #expect(skipped.contains { if case .misplacedTransfer(rank: 2, _, _) = $0 { return true }; return false })
    }

    @Test func sendBeforeItsDataExistsIsDetected() throws {
        let found = try damaged { actions in
            // Move rank 0's first send (activation of micro-batch 0) before the forward that computes it.
            let send = actions[0].firstIndex { if case .send = $0 { return true }; return false }!
            actions[0].insert(actions[0].remove(at: send), at: 0)
        }
        #expect(found.contains { if case .outOfOrder(rank: 0, action: .send, mustFollow: .forward(microBatch: 0, chunk: 0)) = $0 { return true }; return false })
    }

    @Test func malformedShapeIsReported() {
        let schedule = PipelineSchedule(name: "empty", stages: 2, microBatches: 1, actions: [[]])
        #expect(schedule.violations == [.malformed(reason: "1 rank action lists for 2 stages")])
        let hollow = PipelineSchedule(name: "hollow", stages: 1, microBatches: 1, actions: [[]])
        #expect(hollow.violations.count == 2)  // forward and backward of micro-batch 0 missing
        #expect(throws: PipelineError.self) { try hollow.validate() }
    }
}
