import Testing
import TesseraCollectives

/// Split groups, the process groups of a mesh, and non-blocking operations on the threads backend.
@Suite(.serialized) struct ThreadGroupSplitTests {
    /// Colour by parity, keys reversed: the new ranks follow the keys, and collectives stay in the group.
    @Test(arguments: [1, 2, 5, 8])
    func splitOrdersByKeyAndIsolatesGroups(ranks: Int) throws {
        let results = try ThreadGroup.run(ranks: ranks, deadline: .seconds(10)) { world in
            guard let half = try world.split(color: world.rank % 2, key: -world.rank, name: "half") else {
                return (rank: -1, size: -1, members: [Int]())
            }
            return (rank: half.rank, size: half.size, members: try half.gatherInts(world.rank))
        }
        for (worldRank, result) in results.enumerated() {
            let expected = (0..<ranks).filter { $0 % 2 == worldRank % 2 }.reversed() as [Int]
            #expect(result.members == expected)
            #expect(result.size == expected.count)
            #expect(result.rank == expected.firstIndex(of: worldRank))
        }
    }

    @Test func negativeColorTakesNoPart() throws {
        let results = try ThreadGroup.run(ranks: 4, deadline: .seconds(10)) { world in
            let group = try world.split(color: world.rank == 2 ? -1 : 0, key: 0, name: "without-2")
            return try group.map { try $0.gatherInts(world.rank) }
        }
        #expect(results[2] == nil)
        #expect(results[0] == [0, 1, 3])
        #expect(results[3] == [0, 1, 3])
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

    /// The operation completes while the rank never calls into the library: progress is made by the
    /// communicator's progress thread, not by `wait()`.
    @Test func nonBlockingAllReduceProgressesWithoutWait() throws {
        let inputs = (0..<3).map { testValues(rank: $0, count: 50_000) }
        let results = try ThreadGroup.run(ranks: 3, deadline: .seconds(10)) { world in
            var buffer = inputs[world.rank]
            let completedBeforeWait = try buffer.withUnsafeMutableBufferPointer { buffer -> Bool in
                let request = try world.startAllReduce(buffer, operation: .sum)
                let start = ContinuousClock.now
                var spins = 0.0
                while !request.isComplete && seconds(since: start) < 5 { spins += 1 }  // "compute"
                let completed = request.isComplete
                try request.wait()
                return completed
            }
            return (completedBeforeWait, buffer)
        }
        let expected = bits(referenceReduce(inputs, .sum))
        for (completed, buffer) in results {
            #expect(completed)
            #expect(bits(buffer) == expected)
        }
    }

    /// Several requests in flight at once, mixed with a blocking call issued after them.
    @Test(arguments: [1, 2, 4, 8])
    func overlappingRequestsAndBlockingCalls(ranks: Int) throws {
        let block = 9
        let inputs = (0..<ranks).map { testValues(rank: $0, count: ranks * block, salt: 3) }
        let results = try ThreadGroup.run(ranks: ranks, deadline: .seconds(10)) { world in
            var reduced = inputs[world.rank]
            var scattered = [Float](repeating: 0, count: block)
            var gathered = [Float](repeating: 0, count: ranks * block)
            var received = [Float](repeating: 0, count: 4)
            let own = testValues(rank: world.rank, count: block)
            let next = (world.rank + 1) % ranks, previous = (world.rank + ranks - 1) % ranks
            try inputs[world.rank].withUnsafeBufferPointer { input in
                try reduced.withUnsafeMutableBufferPointer { reduced in
                    try scattered.withUnsafeMutableBufferPointer { scattered in
                        try gathered.withUnsafeMutableBufferPointer { gathered in
                            try received.withUnsafeMutableBytes { received in
                                try own.withUnsafeBufferPointer { own in
                                    let requests = [
                                        try world.startReceive(into: received, from: previous, tag: 3),
                                        try world.startAllReduce(reduced, operation: .max),
                                        try world.startReduceScatter(input, into: scattered, operation: .sum),
                                        try world.startAllGather(UnsafeRawBufferPointer(own), into: UnsafeMutableRawBufferPointer(gathered)),
                                        try world.startSend(UnsafeRawBufferPointer(own.extracting(0..<4)), to: next, tag: 3),
                                    ]
                                    try world.barrier()
                                    for request in requests { try request.wait() }
                                }
                            }
                        }
                    }
                }
            }
            return (reduced, scattered, gathered, received)
        }
        let maxima = referenceReduce(inputs, .max), sums = referenceReduce(inputs, .sum)
        let all = (0..<ranks).flatMap { testValues(rank: $0, count: block) }
        for (rank, result) in results.enumerated() {
            #expect(bits(result.0) == bits(maxima))
            #expect(bits(result.1) == bits(Array(sums[rank * block..<(rank + 1) * block])))
            #expect(bits(result.2) == bits(all))
            #expect(result.3 == Array(testValues(rank: (rank + ranks - 1) % ranks, count: 4)))
        }
    }
}
