import Synchronization
import Testing
import TesseraCollectives
#if canImport(Glibc)
import Glibc
#endif

/// Every fault ends in a named `CollectiveError` within its deadline; nothing hangs.
@Suite(.serialized) struct ThreadFaultTests {
    struct Boom: Error, Equatable {}

    /// Per-rank outcomes of a faulty run: the error each rank saw and when.
    final class Outcomes: Sendable {
        private let errors = Mutex<[Int: (error: any Error, time: Double)]>([:])
        private let start = ContinuousClock.now

        func record(_ rank: Int, _ error: any Error) {
            let time = seconds(since: start)
            errors.withLock { $0[rank] = (error, time) }
        }

        func error(_ rank: Int) -> (any Error)? { errors.withLock { $0[rank]?.error } }
        func time(_ rank: Int) -> Double? { errors.withLock { $0[rank]?.time } }
    }

    /// Runs `body` on `ranks` ranks, recording each rank's error before rethrowing it.
    func run(ranks: Int, deadline: Duration, _ outcomes: Outcomes,
             _ body: @escaping @Sendable (any Communicator) throws -> Void) -> CollectiveError? {
        collectiveError {
            _ = try ThreadGroup.run(ranks: ranks, deadline: deadline) { world in
                do { try body(world) } catch {
                    outcomes.record(world.rank, error)
                    throw error
                }
            }
        }
    }

    static func allReduce(_ world: any Communicator, count: Int = 8, _ operation: ReduceOperation = .sum) throws {
        var buffer = [Float](repeating: 1, count: count)
        try buffer.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: operation) }
    }

    @Test func timeoutNamesGroupOperationSequenceAndMissingRank() {
        let outcomes = Outcomes()
        let error = run(ranks: 3, deadline: .milliseconds(500), outcomes) { world in
            try Self.allReduce(world)                   // #0: everyone
            if world.rank == 1 { usleep(1_500_000) }    // rank 1 is "hung" past the deadline
            try Self.allReduce(world)                   // #1: ranks 0 and 2 time out
        }
        #expect(error == .timeout(group: "world", operation: "allReduce", sequence: 1, missingRanks: [1],
                                  deadline: .milliseconds(500)))
        #expect(error?.description.contains("rank(s) 1 did not arrive") == true)
        for rank in [0, 2] {
            let time = outcomes.time(rank) ?? .infinity
            #expect(time >= 0.45 && time < 1.2, "rank \(rank) released after \(time) s")
        }
        // The late rank is told who failed instead of waiting for a collective that will never complete.
        guard case .peerFailed(_, "allReduce", 1, _, _)? = outcomes.error(1) as? CollectiveError else {
            Issue.record("rank 1 saw \(String(describing: outcomes.error(1)))"); return
        }
    }

    @Test func rankThatThrowsReleasesPeersPromptly() {
        let outcomes = Outcomes()
        let start = ContinuousClock.now
        #expect(throws: Boom.self) {
            _ = try ThreadGroup.run(ranks: 4, deadline: .seconds(30)) { world in
                do {
                    if world.rank == 2 { usleep(100_000); throw Boom() }
                    try Self.allReduce(world)
                } catch {
                    outcomes.record(world.rank, error)
                    throw error
                }
            }
        }
        #expect(seconds(since: start) < 5, "peers waited for the 30 s deadline instead of being released")
        for rank in [0, 1, 3] {
            guard case let .peerFailed(group, operation, sequence, failed, reason)? = outcomes.error(rank) as? CollectiveError
            else { Issue.record("rank \(rank) saw \(String(describing: outcomes.error(rank)))"); continue }
            #expect(group == "world" && operation == "allReduce" && sequence == 0 && failed == 2)
            #expect(reason.contains("Boom"))
        }
    }

    @Test func rankThatReturnsEarlyReleasesPeers() {
        let outcomes = Outcomes()
        let start = ContinuousClock.now
        let error = run(ranks: 3, deadline: .seconds(30), outcomes) { world in
            if world.rank == 1 { return }
            try Self.allReduce(world)
        }
        #expect(seconds(since: start) < 5)
        guard case let .peerFailed("world", "allReduce", 0, 1, reason)? = error else {
            Issue.record("got \(String(describing: error))"); return
        }
        #expect(reason.contains("returned from its body without calling allReduce #0"))
    }

    @Test func receiveFromARankThatReturnedIsReleased() {
        let error = run(ranks: 2, deadline: .seconds(30), Outcomes()) { world in
            guard world.rank == 0 else { return }
            var buffer = [Float](repeating: 0, count: 4)
            try buffer.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: 1, tag: 5) }
        }
        guard case let .peerFailed(_, "receive(from: 1, tag: 5)", 0, 1, reason)? = error else {
            Issue.record("got \(String(describing: error))"); return
        }
        #expect(reason.contains("without sending"))
    }

    @Test func receiveTimesOutNamingTheSender() {
        let error = run(ranks: 2, deadline: .milliseconds(300), Outcomes()) { world in
            if world.rank == 1 { usleep(800_000); return }
            var buffer = [Float](repeating: 0, count: 4)
            try buffer.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: 1, tag: 5) }
        }
        #expect(error == .timeout(group: "world", operation: "receive(from: 1, tag: 5)", sequence: 0,
                                  missingRanks: [1], deadline: .milliseconds(300)))
    }

    @Test func nonBlockingCollectiveTimesOut() {
        let error = run(ranks: 2, deadline: .milliseconds(300), Outcomes()) { world in
            if world.rank == 1 { usleep(800_000); return }
            var buffer = [Float](repeating: 1, count: 4)
            try buffer.withUnsafeMutableBufferPointer { try world.startAllReduce($0, operation: .sum).wait() }
        }
        #expect(error == .timeout(group: "world", operation: "allReduce", sequence: 0, missingRanks: [1],
                                  deadline: .milliseconds(300)))
    }

    @Test func mismatchedSizesAreReported() {
        let error = run(ranks: 2, deadline: .seconds(30), Outcomes()) { world in
            try Self.allReduce(world, count: world.rank == 0 ? 10 : 100)
        }
        guard case let .mismatch("world", "allReduce", 0, detail)? = error else {
            Issue.record("got \(String(describing: error))"); return
        }
        #expect(detail.contains("40 bytes") && detail.contains("400 bytes"))
    }

    @Test func mismatchedOperationsAreReported() {
        let reduceOperations = run(ranks: 3, deadline: .seconds(30), Outcomes()) { world in
            try Self.allReduce(world, world.rank == 2 ? .max : .sum)
        }
        guard case let .mismatch(_, _, 0, detail)? = reduceOperations else {
            Issue.record("got \(String(describing: reduceOperations))"); return
        }
        #expect(detail.contains("allReduce(sum)") && detail.contains("allReduce(max)"))

        let collectives = run(ranks: 2, deadline: .seconds(30), Outcomes()) { world in
            if world.rank == 0 { try world.barrier() } else { try Self.allReduce(world) }
        }
        guard case let .mismatch(_, _, 0, detail)? = collectives else {
            Issue.record("got \(String(describing: collectives))"); return
        }
        #expect(detail.contains("barrier") && detail.contains("allReduce"))
    }

    @Test func mismatchedBroadcastRootsAndAllToAllCounts() {
        let roots = run(ranks: 2, deadline: .seconds(30), Outcomes()) { world in
            var buffer = [Float](repeating: 0, count: 3)
            try buffer.withUnsafeMutableBufferPointer { try world.broadcast($0, root: world.rank) }
        }
        guard case .mismatch? = roots else { Issue.record("got \(String(describing: roots))"); return }

        let counts = run(ranks: 2, deadline: .seconds(30), Outcomes()) { world in
            let input = [UInt8](repeating: 1, count: 8)
            var output = [UInt8](repeating: 0, count: 8)
            // Rank 1 expects 3 bytes from rank 0, which sends 4.
            let receive = world.rank == 1 ? [3, 4] : [4, 4]
            try input.withUnsafeBytes { input in
                try output.withUnsafeMutableBytes {
                    try world.allToAll(input, sendCounts: [4, 4], into: $0, receiveCounts: receive)
                }
            }
        }
        guard case let .mismatch(_, "allToAll", 0, detail)? = counts else {
            Issue.record("got \(String(describing: counts))"); return
        }
        #expect(detail.contains("rank 0 sends 4 bytes to rank 1, which expects 3"))
    }

    @Test func mismatchedMessageSizeIsReported() {
        let error = run(ranks: 2, deadline: .seconds(30), Outcomes()) { world in
            var buffer = [Float](repeating: 0, count: world.rank == 0 ? 4 : 5)
            if world.rank == 0 {
                try buffer.withUnsafeBufferPointer { try world.send($0, to: 1, tag: 0) }
            } else {
                try buffer.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: 0, tag: 0) }
            }
        }
        guard case let .mismatch(_, _, 0, detail)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(detail.contains("sent 16 bytes") && detail.contains("20 bytes"))
    }

    @Test func invalidArgumentsAreRejectedBeforeAnyCommunication() throws {
        let errors = try ThreadGroup.run(ranks: 2, deadline: .seconds(10)) { world -> [CollectiveError?] in
            var floats = [Float](repeating: 0, count: 6)
            var bytes = [UInt8](repeating: 0, count: 6)
            let found = floats.withUnsafeMutableBufferPointer { floats in
                bytes.withUnsafeMutableBytes { bytes in [
                    collectiveError { try world.allGather(UnsafeRawBufferPointer(bytes), into: bytes) },
                    collectiveError {
                        try world.reduceScatter(UnsafeBufferPointer(floats), into: floats.extracting(0..<2), operation: .sum)
                    },
                    collectiveError { try world.broadcast(bytes, root: 2) },
                    collectiveError { try world.send(UnsafeRawBufferPointer(bytes), to: -1, tag: 0) },
                    collectiveError { try world.receive(into: bytes, from: 5, tag: 0) },
                    collectiveError {
                        try world.allToAll(UnsafeRawBufferPointer(bytes), sendCounts: [1], into: bytes, receiveCounts: [1, 1])
                    },
                    collectiveError {
                        try world.allToAll(UnsafeRawBufferPointer(bytes), sendCounts: [4, 4], into: bytes, receiveCounts: [1, 1])
                    },
                ] }
            }
            // Rejected calls take no sequence number: the group still works.
            try world.barrier()
            return found
        }
        for rankErrors in errors {
            for error in rankErrors {
                guard case .invalidArgument? = error else { Issue.record("got \(String(describing: error))"); continue }
            }
        }
        #expect(errors[0][0]?.description.contains("size × input.count") == true)
        #expect(collectiveError { _ = try ThreadGroup.run(ranks: 0) { _ in } }
                == .invalidArgument(group: "world", operation: "ThreadGroup.run", detail: "ranks must be at least 1 (got 0)"))
        guard case .invalidArgument? = collectiveError({ _ = try ThreadGroup.run(ranks: 2, deadline: .zero) { _ in } }) else {
            Issue.record("a zero deadline was accepted"); return
        }
    }

    @Test func failedGroupFailsLaterCallsAndSplitGroups() {
        let outcomes = Outcomes()
        #expect(throws: Boom.self) {
            _ = try ThreadGroup.run(ranks: 4, deadline: .seconds(30)) { world in
                do {
                    let pair = try world.split(color: world.rank / 2, key: world.rank, name: "pair")!
                    if world.rank == 0 { throw Boom() }
                    // Ranks 2 and 3 share no group with rank 0, but the run has failed: they are released.
                    let start = ContinuousClock.now
                    while seconds(since: start) < 10 { try Self.allReduce(pair) }
                } catch {
                    outcomes.record(world.rank, error)
                    throw error
                }
            }
        }
        for rank in 1...3 {
            guard case let .peerFailed(_, _, _, 0, reason)? = outcomes.error(rank) as? CollectiveError else {
                Issue.record("rank \(rank) saw \(String(describing: outcomes.error(rank)))"); continue
            }
            #expect(reason.contains("Boom"))
        }
    }

    @Test func communicatorsCannotBeUsedAfterTheRun() throws {
        let worlds = try ThreadGroup.run(ranks: 2, deadline: .seconds(10)) { world in UncheckedBox(world) }
        guard case .peerFailed? = collectiveError({ try worlds[0].value.barrier() }) else {
            Issue.record("a finished group accepted a barrier"); return
        }
    }
}

/// Lets a test smuggle a communicator out of its run to check it is unusable afterwards.
struct UncheckedBox: @unchecked Sendable {
    let value: any Communicator
    init(_ value: any Communicator) { self.value = value }
}
