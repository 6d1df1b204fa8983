/// The checks every backend must pass, run on a live group: the same code checks the threads backend
/// in `swift test` and the MPI backend under `mpirun` (`tessera collective-checks`).
///
/// Each check is collective: every rank of `world` runs the same checks in the same order. A failed
/// check throws ``CollectiveConformance/Failure`` naming the check and what differed.
public enum CollectiveConformance {
    public struct Failure: Error, CustomStringConvertible {
        public let check: String
        public let detail: String
        public var description: String { "collective check '\(check)' failed: \(detail)" }
    }

    /// The names of the checks, in the order ``run(on:)`` runs them.
    public static let checkNames = checks.map(\.name)

    /// Runs every check on `world` (collective) and returns the names of those that ran.
    public static func run(on world: any Communicator) throws -> [String] {
        for check in checks { try check.body(world) }
        return checkNames
    }

    /// Inputs whose sums round differently in different orders, so order changes show in the bits.
    public static func values(rank: Int, count: Int, salt: Int = 0) -> [Float] {
        (0..<count).map { i in
            let k = (rank &* 7919 &+ i &* 104_729 &+ salt &* 31) % 2003
            return (Float(k) - 1001) / 997 * (1 + Float(rank) / 3)
        }
    }

    private typealias Check = (name: String, body: @Sendable (any Communicator) throws -> Void)

    private static let checks: [Check] = [
        ("allReduce", allReduce), ("allGather", allGather), ("reduceScatter", reduceScatter),
        ("broadcast", broadcast), ("sendReceiveRing", sendReceiveRing), ("messageOrder", messageOrder),
        ("allToAll", allToAll), ("barrier", { try $0.barrier() }), ("split", split), ("meshGroups", meshGroups),
        ("nonBlocking", nonBlocking), ("allToAllWithCounts", allToAllWithCounts), ("nonBlockingAllToAll", nonBlockingAllToAll),
        ("invalidArguments", invalidArguments),
    ]

    // MARK: The checks

    /// Sum, max and mean against a float64 reference; identical bits on every rank and on a repeat.
    private static func allReduce(_ world: any Communicator) throws {
        for count in [1, 37, 10_003] {
            let inputs = (0..<world.size).map { values(rank: $0, count: count) }
            for operation in ReduceOperation.allCases {
                let check = "allReduce(\(operation)) of \(count) floats"
                var result = inputs[world.rank]
                try result.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: operation) }
                try expectClose(result, reference(inputs, operation), check)
                try expectSameOnEveryRank(result, world, check)
                var again = inputs[world.rank]
                try again.withUnsafeMutableBufferPointer { try world.allReduce($0, operation: operation) }
                try expect(again.map(\.bitPattern) == result.map(\.bitPattern), check, "a repeated run gave different bits")
            }
        }
    }

    private static func allGather(_ world: any Communicator) throws {
        let input = values(rank: world.rank, count: 13)
        var output = [Float](repeating: -1, count: world.size * 13)
        try input.withUnsafeBufferPointer { input in
            try output.withUnsafeMutableBufferPointer { try world.allGather(input, into: $0) }
        }
        try expect(output == (0..<world.size).flatMap { values(rank: $0, count: 13) }, "allGather", "blocks out of order or wrong")
        // Unequal shares (uneven tensor parallelism): rank r gives 12 + r % 3 floats.
        let counts = (0..<world.size).map { 12 + $0 % 3 }, mine = values(rank: world.rank, count: counts[world.rank], salt: 5)
        var packed = [Float](repeating: -1, count: counts.reduce(0, +))
        try mine.withUnsafeBufferPointer { input in
            try packed.withUnsafeMutableBufferPointer { try world.allGather(input, counts: counts, into: $0) }
        }
        try expect(packed == counts.indices.flatMap { values(rank: $0, count: counts[$0], salt: 5) }, "allGather(counts:)",
                   "shares out of order or wrong")
    }

    private static func reduceScatter(_ world: any Communicator) throws {
        let block = 21
        let inputs = (0..<world.size).map { values(rank: $0, count: world.size * block, salt: 2) }
        for operation in ReduceOperation.allCases {
            var output = [Float](repeating: .nan, count: block)
            try inputs[world.rank].withUnsafeBufferPointer { input in
                try output.withUnsafeMutableBufferPointer { try world.reduceScatter(input, into: $0, operation: operation) }
            }
            let full = reference(inputs, operation)
            try expectClose(output, Array(full[world.rank * block..<(world.rank + 1) * block]), "reduceScatter(\(operation))")
        }
    }

    private static func broadcast(_ world: any Communicator) throws {
        for root in Set([0, world.size - 1]).sorted() {
            var buffer = values(rank: world.rank, count: 33)
            try buffer.withUnsafeMutableBufferPointer { try world.broadcast($0, root: root) }
            try expect(buffer == values(rank: root, count: 33), "broadcast(root: \(root))", "buffer differs from the root's")
        }
    }

    /// Every rank sends before it receives; tags are received in the opposite order from the sends.
    private static func sendReceiveRing(_ world: any Communicator) throws {
        let next = (world.rank + 1) % world.size, previous = (world.rank + world.size - 1) % world.size
        try values(rank: world.rank, count: 1000).withUnsafeBufferPointer { try world.send($0, to: next, tag: 7) }
        try [Float(world.rank)].withUnsafeBufferPointer { try world.send($0, to: next, tag: 8) }
        var tagged: [Float] = [0]
        var received = [Float](repeating: 0, count: 1000)
        try tagged.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: previous, tag: 8) }
        try received.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: previous, tag: 7) }
        try expect(tagged == [Float(previous)] && received == values(rank: previous, count: 1000),
                   "sendReceiveRing", "rank \(world.rank) received the wrong message from rank \(previous)")
    }

    /// Messages on one (source, tag) channel arrive in the order they were sent.
    private static func messageOrder(_ world: any Communicator) throws {
        guard world.size > 1, world.rank < 2 else { return }
        if world.rank == 0 {
            for value in 0..<5 { try [Float(value)].withUnsafeBufferPointer { try world.send($0, to: 1, tag: 0) } }
        } else {
            var seen: [Float] = []
            for _ in 0..<5 {
                var value: [Float] = [0]
                try value.withUnsafeMutableBufferPointer { try world.receive(into: $0, from: 0, tag: 0) }
                seen.append(value[0])
            }
            try expect(seen == [0, 1, 2, 3, 4], "messageOrder", "received \(seen)")
        }
    }

    /// Rank r sends (r + q) % 3 floats to rank q, each encoding (sender, receiver, index).
    private static func allToAll(_ world: any Communicator) throws {
        let r = world.rank, n = world.size
        func count(_ from: Int, _ to: Int) -> Int { (from + to) % 3 }
        func value(_ from: Int, _ to: Int, _ i: Int) -> Float { Float(from * 100 + to * 10 + i) }
        let input = (0..<n).flatMap { to in (0..<count(r, to)).map { value(r, to, $0) } }
        let receiveCounts = (0..<n).map { count($0, r) }
        var output = [Float](repeating: -1, count: receiveCounts.reduce(0, +))
        try input.withUnsafeBytes { input in
            try output.withUnsafeMutableBytes {
                try world.allToAll(input, sendCounts: (0..<n).map { count(r, $0) * 4 }, into: $0,
                                   receiveCounts: receiveCounts.map { $0 * 4 })
            }
        }
        try expect(output == (0..<n).flatMap { from in (0..<count(from, r)).map { value(from, r, $0) } },
                   "allToAll", "rank \(r) received \(output)")
    }

    /// Parity groups with reversed keys, and a colour that opts out.
    private static func split(_ world: any Communicator) throws {
        guard let half = try world.split(color: world.rank % 2, key: -world.rank, name: "parity") else {
            throw Failure(check: "split", detail: "a non-negative colour returned no group")
        }
        let expected = (0..<world.size).filter { $0 % 2 == world.rank % 2 }.reversed() as [Int]
        try expect(try gatherInts(world.rank, half) == expected && half.rank == expected.firstIndex(of: world.rank),
                   "split", "parity group of rank \(world.rank) is wrong")
        let someone = world.size - 1
        let without = try world.split(color: world.rank == someone ? -1 : 0, key: 0, name: "without-last")
        try expect((without == nil) == (world.rank == someone), "split", "a negative colour must give nil, and only it")
        if let without {
            try expect(try gatherInts(world.rank, without) == Array(0..<someone), "split", "members of the group without rank \(someone)")
        }
    }

    /// The process groups of a mesh over the world have the members the pure mesh math predicts.
    private static func meshGroups(_ world: any Communicator) throws {
        let tp = world.size % 2 == 0 ? 2 : 1, pp = world.size % 4 == 0 ? 2 : 1
        let mesh = try DeviceMesh(tp: tp, dp: world.size / tp / pp, pp: pp)
        let groups = try ProcessGroups(world: world, mesh: mesh)
        let rank = world.rank
        let cases: [(String, any Communicator, [Int])] = [
            ("tp", groups.tensor, mesh.groupRanks(over: [.tp], containing: rank)),
            ("dp", groups.data, mesh.groupRanks(over: [.dp], containing: rank)),
            ("pp", groups.pipeline, mesh.groupRanks(over: [.pp], containing: rank)),
            ("dp×cp", groups.dataContext, mesh.groupRanks(over: [.dp, .cp], containing: rank)),
            ("tp×pp", groups.modelParallel, mesh.groupRanks(over: [.tp, .pp], containing: rank)),
        ]
        for (label, group, expected) in cases {
            try expect(try gatherInts(rank, group) == expected, "meshGroups", "\(label) group of rank \(rank) on \(mesh)")
        }
        let embedding = try groups.embedding.map { try gatherInts(rank, $0) }
        try expect(embedding == mesh.embeddingRanks(containing: rank), "meshGroups", "embedding group of rank \(rank)")
    }

    /// A request completes while the rank only polls `isComplete`; several requests overlap a blocking call.
    private static func nonBlocking(_ world: any Communicator) throws {
        let n = world.size, block = 9
        let inputs = (0..<n).map { values(rank: $0, count: n * block, salt: 3) }
        var reduced = inputs[world.rank]
        var scattered = [Float](repeating: 0, count: block)
        var gathered = [Float](repeating: 0, count: n * block)
        var received = [Float](repeating: 0, count: 4)
        let own = values(rank: world.rank, count: block)
        let next = (world.rank + 1) % n, previous = (world.rank + n - 1) % n
        try inputs[world.rank].withUnsafeBufferPointer { input in
            try reduced.withUnsafeMutableBufferPointer { reduced in
                try scattered.withUnsafeMutableBufferPointer { scattered in
                    try gathered.withUnsafeMutableBytes { gathered in
                        try received.withUnsafeMutableBytes { received in
                            try own.withUnsafeBytes { own in
                                let first = try world.startAllReduce(reduced, operation: .max)
                                let clock = ContinuousClock(), start = clock.now
                                while !first.isComplete && clock.now - start < world.deadline {}
                                try expect(first.isComplete, "nonBlocking", "an all-reduce polled with isComplete never completed")
                                try first.wait()
                                let requests = [
                                    try world.startReceive(into: received, from: previous, tag: 3),
                                    try world.startReduceScatter(input, into: scattered, operation: .sum),
                                    try world.startAllGather(own, into: gathered),
                                    try world.startSend(UnsafeRawBufferPointer(rebasing: own[0..<16]), to: next, tag: 3),
                                ]
                                try world.barrier()
                                for request in requests { try request.wait() }
                            }
                        }
                    }
                }
            }
        }
        let sums = reference(inputs, .sum)
        try expectClose(reduced, reference(inputs, .max), "nonBlocking allReduce(max)")
        try expectClose(scattered, Array(sums[world.rank * block..<(world.rank + 1) * block]), "nonBlocking reduceScatter")
        try expect(gathered == (0..<n).flatMap { values(rank: $0, count: block) }, "nonBlocking", "all-gather result")
        try expect(received == Array(values(rank: previous, count: 4)), "nonBlocking", "received message")
    }

    /// Bad arguments throw `invalidArgument` before any communication (the group still works after).
    private static func invalidArguments(_ world: any Communicator) throws {
        var floats = [Float](repeating: 0, count: world.size * 2 + 1)
        var bytes = [UInt8](repeating: 0, count: world.size * 2 + 1)
        let n = world.size
        let calls: [(String, (UnsafeMutableBufferPointer<Float>, UnsafeMutableRawBufferPointer) throws -> Void)] = [
            ("allGather", { _, bytes in try world.allGather(UnsafeRawBufferPointer(rebasing: bytes[0..<2]), into: bytes) }),
            ("reduceScatter", { floats, _ in
                try world.reduceScatter(UnsafeBufferPointer(floats), into: floats.extracting(0..<2), operation: .sum) }),
            ("broadcast", { _, bytes in try world.broadcast(bytes, root: n) }),
            ("send", { _, bytes in try world.send(UnsafeRawBufferPointer(bytes), to: -1, tag: 0) }),
            ("receive", { _, bytes in try world.receive(into: bytes, from: n, tag: 0) }),
            ("allToAll", { _, bytes in
                try world.allToAll(UnsafeRawBufferPointer(bytes), sendCounts: Array(repeating: 0, count: n + 1), into: bytes,
                                   receiveCounts: Array(repeating: 0, count: n)) }),
        ]
        for (label, call) in calls {
            let outcome: Result<Void, any Error> = floats.withUnsafeMutableBufferPointer { floats in
                bytes.withUnsafeMutableBytes { bytes in Result { try call(floats, bytes) } }
            }
            guard case .failure(let error) = outcome, case .invalidArgument? = error as? CollectiveError else {
                throw Failure(check: "invalidArguments", detail: "\(label) with bad arguments gave \(outcome)")
            }
        }
        try world.barrier()
    }

    // MARK: Helpers

    /// The float64 reference of a reduction over the ranks' inputs.
    private static func reference(_ inputs: [[Float]], _ operation: ReduceOperation) -> [Float] {
        (0..<inputs[0].count).map { i in
            let column = inputs.map { Double($0[i]) }
            switch operation {
            case .sum: return Float(column.reduce(0, +))
            case .max: return Float(column.max()!)
            case .mean: return Float(column.reduce(0, +) / Double(inputs.count))
            }
        }
    }

    static func expect(_ condition: Bool, _ check: String, _ detail: @autoclosure () -> String) throws {
        guard condition else { throw Failure(check: check, detail: detail()) }
    }

    /// Within a few float32 roundings of the reference (the backend's summation order is its own).
    private static func expectClose(_ actual: [Float], _ expected: [Float], _ check: String) throws {
        for i in actual.indices where abs(actual[i] - expected[i]) > 1e-5 * max(1, abs(expected[i])) * 8 {
            throw Failure(check: check, detail: "element \(i) is \(actual[i]), the float64 reference is \(expected[i])")
        }
    }

    /// The same bit pattern on every rank of `world`.
    private static func expectSameOnEveryRank(_ values: [Float], _ world: any Communicator, _ check: String) throws {
        var all = [Float](repeating: 0, count: values.count * world.size)
        try values.withUnsafeBufferPointer { input in
            try all.withUnsafeMutableBufferPointer { try world.allGather(input, into: $0) }
        }
        let bits = all.map(\.bitPattern)
        for rank in 1..<world.size where bits[rank * values.count..<(rank + 1) * values.count] != bits[0..<values.count] {
            throw Failure(check: check, detail: "rank \(rank)'s result differs in its bits from rank 0's")
        }
    }

    private static func gatherInts(_ value: Int, _ group: any Communicator) throws -> [Int] {
        var output = [Int](repeating: 0, count: group.size)
        try [value].withUnsafeBytes { input in
            try output.withUnsafeMutableBytes { try group.allGather(input, into: $0) }
        }
        return output
    }
}
