import Synchronization
import Testing
import TesseraCollectives

/// The threads backend beyond the shared conformance checks (`ConformanceTests`): reductions bit-exact
/// against a rank-order reference on 1 to 8 ranks, repeatability, and collectives of several groups at once.
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

    /// A small all-reduce (a decode step's hidden row) meets once: every rank reduces copies staged in the slot, so
    /// a rank may return and overwrite its buffer while its peers still reduce. Each round's buffer is overwritten
    /// with the next round's inputs the moment the call returns; a backend that read the peers' live buffers after
    /// a single meeting would pick up those values on some rounds.
    @Test(arguments: [2, 3, 4])
    func smallAllReduceLetsARankReuseItsBufferAtOnce(ranks: Int) throws {
        let rounds = 200, count = 576
        let inputs = (0..<rounds).map { round in (0..<ranks).map { testValues(rank: $0, count: count, salt: round) } }
        let results = try ThreadGroup.run(ranks: ranks, deadline: .seconds(30)) { world in
            // One allocation for every round, overwritten in place.
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
            defer { buffer.deallocate() }
            _ = buffer.initialize(from: inputs[0][world.rank])
            var sums: [[Float]] = []
            for round in 0..<rounds {
                try world.allReduce(buffer, operation: .sum)
                sums.append(Array(buffer))
                if round + 1 < rounds { _ = buffer.update(from: inputs[round + 1][world.rank]) }
            }
            return sums
        }
        for round in 0..<rounds {
            let expected = bits(referenceReduce(inputs[round], .sum))
            for (rank, sums) in results.enumerated() {
                let same = bits(sums[round]) == expected
                #expect(same, "round \(round), rank \(rank) of \(ranks)")
            }
        }
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

    /// The groups of a tp=2 × pp=2 × dp=2 mesh have exactly the members the pure mesh math predicts, and
    /// their collectives run concurrently without crossing.
    @Test func processGroupsOfAMeshMatchTheRankMath() throws {
        let mesh = try DeviceMesh(tp: 2, dp: 2, pp: 2)
        let results = try ThreadGroup.run(ranks: 8, deadline: .seconds(10)) { world in
            let groups = try ProcessGroups(world: world, mesh: mesh)
            var sum = Float(world.rank)
            sum = try groups.tensor.allReduce(sum, operation: .sum)
            return (tensor: try groups.tensor.gatherInts(world.rank), data: try groups.data.gatherInts(world.rank),
                    pipeline: try groups.pipeline.gatherInts(world.rank),
                    model: try groups.modelParallel.gatherInts(world.rank),
                    dataContext: try groups.dataContext.gatherInts(world.rank),
                    embedding: try groups.embedding?.gatherInts(world.rank), tensorSum: sum,
                    stage: groups.pipeline.rank)
        }
        for (rank, result) in results.enumerated() {
            #expect(result.tensor == mesh.groupRanks(over: [.tp], containing: rank))
            #expect(result.data == mesh.groupRanks(over: [.dp], containing: rank))
            #expect(result.pipeline == mesh.groupRanks(over: [.pp], containing: rank))
            #expect(result.model == mesh.groupRanks(over: [.tp, .pp], containing: rank))
            #expect(result.dataContext == mesh.groupRanks(over: [.dp, .cp], containing: rank))
            #expect(result.embedding == mesh.embeddingRanks(containing: rank))
            #expect(result.tensorSum == Float(result.tensor.reduce(0, +)))
            #expect(result.stage == mesh.coordinate(of: rank).pp)
        }
    }

    /// The expert and expert-data groups of a tp=2 × cp=2 × dp=2 mesh with ep=2 have the members the pure
    /// mesh math predicts.
    @Test func expertGroupsOfAMeshMatchTheRankMath() throws {
        let mesh = try DeviceMesh(tp: 2, cp: 2, dp: 2, ep: 2)
        let results = try ThreadGroup.run(ranks: 8, deadline: .seconds(10)) { world in
            let groups = try ProcessGroups(world: world, mesh: mesh)
            return (expert: try groups.expert.gatherInts(world.rank), expertData: try groups.expertData.gatherInts(world.rank),
                    expertRank: groups.expert.rank)
        }
        for (rank, result) in results.enumerated() {
            #expect(result.expert == mesh.expertGroupRanks(containing: rank))
            #expect(result.expertData == mesh.expertDataGroupRanks(containing: rank))
            #expect(result.expertRank == mesh.expertRank(of: rank))
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
