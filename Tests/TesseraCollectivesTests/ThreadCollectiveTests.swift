import Synchronization
import Testing
import TesseraCollectives

/// Every operation of the threads backend on groups of 1 to 8 ranks, against rank-order references.
@Suite(.serialized) struct ThreadCollectiveTests {
    static let sizes = Array(1...8)

    @Test(arguments: sizes)
    func allReduceMatchesRankOrderReferenceBitForBit(ranks: Int) throws {
        // 1 element, a count that splits unevenly, and one spanning several reduction blocks.
        for count in [1, 37, 10_003] {
            let inputs = (0..<ranks).map { testValues(rank: $0, count: count) }
            for operation in ReduceOperation.allCases {
                let results = try ThreadGroup.run(ranks: ranks, deadline: .seconds(10)) { world in
                    var buffer = inputs[world.rank]
                    try buffer.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: operation) }
                    return buffer
                }
                let expected = bits(referenceReduce(inputs, operation))
                for result in results { #expect(bits(result) == expected, "\(operation) of \(count) on \(ranks) ranks") }
            }
        }
    }

    /// Non-vacuity: the data is such that another summation order changes the bits, so the test above
    /// would catch a backend that reduced in a different order.
    @Test func referenceOrderIsObservable() {
        let inputs = (0..<4).map { testValues(rank: $0, count: 10_003) }
        #expect(bits(referenceReduce(inputs, .sum)) != bits(referenceReduce(inputs.reversed(), .sum)))
    }

    @Test(arguments: sizes)
    func repeatedRunsGiveIdenticalBits(ranks: Int) throws {
        let inputs = (0..<ranks).map { testValues(rank: $0, count: 4099, salt: 5) }
        func once() throws -> [[Float]] {
            try ThreadGroup.run(ranks: ranks, deadline: .seconds(10)) { world in
                var buffer = inputs[world.rank]
                for _ in 0..<3 {
                    try buffer.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: .mean) }
                }
                return buffer
            }
        }
        let first = try once(), second = try once()
        #expect(first.map(bits) == second.map(bits))
        #expect(Set(first.map(bits)).count == 1)
    }

    @Test(arguments: sizes)
    func allGatherConcatenatesInRankOrder(ranks: Int) throws {
        let count = 13
        let results = try ThreadGroup.run(ranks: ranks, deadline: .seconds(10)) { world in
            let input = testValues(rank: world.rank, count: count)
            var output = [Float](repeating: -1, count: ranks * count)
            try input.withUnsafeBufferPointer { input in
                try output.withUnsafeMutableBufferPointer { try world.allGather(input, into: $0) }
            }
            return output
        }
        let expected = (0..<ranks).flatMap { testValues(rank: $0, count: count) }
        for result in results { #expect(bits(result) == bits(expected)) }
    }

    @Test(arguments: sizes)
    func reduceScatterGivesEachRankItsReducedBlock(ranks: Int) throws {
        let block = 21
        let inputs = (0..<ranks).map { testValues(rank: $0, count: ranks * block, salt: 2) }
        for operation in ReduceOperation.allCases {
            let results = try ThreadGroup.run(ranks: ranks, deadline: .seconds(10)) { world in
                var output = [Float](repeating: .nan, count: block)
                try inputs[world.rank].withUnsafeBufferPointer { input in
                    try output.withUnsafeMutableBufferPointer {
                        try world.reduceScatter(input, into: $0, operation: operation)
                    }
                }
                return output
            }
            let full = referenceReduce(inputs, operation)
            for (rank, result) in results.enumerated() {
                #expect(bits(result) == bits(Array(full[rank * block..<(rank + 1) * block])), "\(operation) rank \(rank)")
            }
        }
    }

    @Test(arguments: sizes)
    func broadcastCopiesTheRootsBuffer(ranks: Int) throws {
        for root in Set([0, ranks - 1]) {
            let results = try ThreadGroup.run(ranks: ranks, deadline: .seconds(10)) { world in
                var buffer = testValues(rank: world.rank, count: 33)
                try buffer.withUnsafeMutableBufferPointer { try world.broadcast($0, root: root) }
                return buffer
            }
            for result in results { #expect(bits(result) == bits(testValues(rank: root, count: 33))) }
        }
    }

    /// Every rank sends before it receives (a ring): buffered sends must not deadlock.
    @Test(arguments: sizes)
    func sendBeforeReceiveRingDoesNotDeadlock(ranks: Int) throws {
        let results = try ThreadGroup.run(ranks: ranks, deadline: .seconds(10)) { world in
            let next = (world.rank + 1) % ranks, previous = (world.rank + ranks - 1) % ranks
            let message = testValues(rank: world.rank, count: 1000)
            try message.withUnsafeBufferPointer { try world.send($0, to: next, tag: 7) }
            try [Float(world.rank)].withUnsafeBufferPointer { try world.send($0, to: next, tag: 8) }
            var tagged = [Float](repeating: 0, count: 1)
            var received = [Float](repeating: 0, count: 1000)
            // Receive the tags in the opposite order from the sends: matching is by tag.
            try tagged.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: previous, tag: 8) }
            try received.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: previous, tag: 7) }
            return (tagged[0], received)
        }
        for (rank, (tagged, received)) in results.enumerated() {
            let previous = (rank + ranks - 1) % ranks
            #expect(tagged == Float(previous))
            #expect(bits(received) == bits(testValues(rank: previous, count: 1000)))
        }
    }

    @Test func messagesOnOneChannelArriveInOrder() throws {
        let received = try ThreadGroup.run(ranks: 2, deadline: .seconds(10)) { world -> [Float] in
            if world.rank == 0 {
                for value in 0..<5 { try [Float(value)].withUnsafeBufferPointer { try world.send($0, to: 1, tag: 0) } }
                return []
            }
            var values: [Float] = []
            for _ in 0..<5 {
                var value: [Float] = [0]
                try value.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: 0, tag: 0) }
                values.append(value[0])
            }
            return values
        }
        #expect(received[1] == [0, 1, 2, 3, 4])
    }

    /// Rank r sends (r + q) % 3 floats to rank q, each float encoding (sender, receiver, index).
    @Test(arguments: sizes)
    func allToAllWithPerRankCounts(ranks: Int) throws {
        @Sendable func count(_ from: Int, _ to: Int) -> Int { (from + to) % 3 }
        @Sendable func value(_ from: Int, _ to: Int, _ i: Int) -> Float { Float(from * 100 + to * 10 + i) }
        let results = try ThreadGroup.run(ranks: ranks, deadline: .seconds(10)) { world in
            let r = world.rank
            let sendCounts = (0..<ranks).map { count(r, $0) }
            let receiveCounts = (0..<ranks).map { count($0, r) }
            let input = (0..<ranks).flatMap { to in (0..<count(r, to)).map { value(r, to, $0) } }
            var output = [Float](repeating: -1, count: receiveCounts.reduce(0, +))
            try input.withUnsafeBytes { input in
                try output.withUnsafeMutableBytes {
                    try world.allToAll(input, sendCounts: sendCounts.map { $0 * 4 },
                                       into: $0, receiveCounts: receiveCounts.map { $0 * 4 })
                }
            }
            return output
        }
        for (r, output) in results.enumerated() {
            #expect(output == (0..<ranks).flatMap { from in (0..<count(from, r)).map { value(from, r, $0) } })
        }
    }

    @Test(arguments: sizes)
    func barrierHoldsEveryoneUntilAllArrive(ranks: Int) throws {
        let arrivals = Counter()
        let seen = try ThreadGroup.run(ranks: ranks, deadline: .seconds(10)) { world in
            arrivals.increment()
            try world.barrier()
            return arrivals.value
        }
        #expect(seen.allSatisfy { $0 == ranks })
    }

    @Test func emptyBuffersAreValid() throws {
        _ = try ThreadGroup.run(ranks: 3, deadline: .seconds(10)) { world in
            var empty: [Float] = []
            try empty.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: .sum) }
            try empty.withUnsafeMutableBufferPointer { try world.broadcast($0, root: 1) }
            var output: [Float] = []
            try empty.withUnsafeBufferPointer { input in
                try output.withUnsafeMutableBufferPointer { try world.reduceScatter(input, into: $0, operation: .max) }
            }
        }
    }

    @Test func scalarAllReduceConvenience() throws {
        let results = try ThreadGroup.run(ranks: 4, deadline: .seconds(10)) { world in
            try world.allReduce(Float(world.rank + 1), operation: .mean)
        }
        #expect(results == [2.5, 2.5, 2.5, 2.5])
    }
}

/// A thread-safe counter for tests.
final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
