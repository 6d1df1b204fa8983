import Testing
import TesseraCollectives
import TesseraNN
import TesseraParallel

/// A capacity over sequences split by sequence or context parallelism: where each rank's rows lie in the micro-batch
/// (``SequenceRows``, pure), and routers on two sequence-parallel ranks holding halves of one sequence dropping what
/// one router over the whole sequence drops; without the gather they keep more.
struct RouterCapacityTests {
    /// Every rank of tp 2 (sequence parallel) × cp 2 names distinct micro-batch rows, together all of them, and each
    /// row its rank's context-parallel position (length 7: chunks of 2, 2, 2 and 1 tokens).
    @Test func everyRowOfTheMicroBatchBelongsToOneRank() throws {
        let batch = 2, length = 7
        let rows = try ThreadGroup.run(ranks: 4, deadline: .seconds(30)) { world -> [Int] in
            let groups = try ProcessGroups(world: world, mesh: DeviceMesh(tp: 2, cp: 2))
            let context = LayerContext(groups: groups, sequenceParallel: true)
            let shard = try ContextShard(length: length, ranks: 2, rank: groups.coordinate.cp)
            let sequences = SequenceRows(batch: batch, localLength: shard.localLength, shard: shard, context: context)
            #expect(sequences.isSplit && sequences.length == length)
            let own = sequences.microBatchRows()
            #expect(own.allSatisfy { shard.positions.contains($0 % length) })
            return own
        }
        #expect(rows.flatMap { $0 }.sorted() == Array(0..<batch * length))
        #expect(rows[0] == [0, 1, 6])
        #expect(!SequenceRows(length: length, batch: batch).isSplit)
        #expect(SequenceRows(length: length, batch: batch).microBatchRows() == Array(0..<batch * length))
    }

    /// One 10-token sequence, 6 experts, top-2, capacity 0.5 (2 assignments per expert): two sequence-parallel ranks
    /// with 5 rows each drop what one router over all 10 drops.
    @Test(arguments: [true, false])
    func splitSequencesDropAsOneRouter(gathers: Bool) throws {
        let configuration = RouterConfiguration(experts: 6, topK: 2, normalizesTopK: true, capacityFactor: 0.5)
        let tokens = 10, k = 2, h = RouterTests.hidden
        let whole = RouterTests.Case(configuration, seed: 9, tokens: tokens)
        let single = try whole.x.withUnsafeBufferPointer {
            try whole.router.forward($0.baseAddress!, tokens: tokens, sequences: SequenceRows(length: tokens), state: Router.State())
        }
        #expect(single.experts.contains(-1), "the capacity drops something")
        let halves = try ThreadGroup.run(ranks: 2, deadline: .seconds(30)) { world -> Routing in
            var context = LayerContext(tensor: world, sequenceParallel: true)
            if !gathers { context.capacityGroups = [] }
            let router = Router(weight: whole.router.weight, configuration: configuration, hidden: h, context: context)
            let rows = tokens / 2
            return try whole.x.withUnsafeBufferPointer {
                try router.forward($0.baseAddress! + world.rank * rows * h, tokens: rows,
                                   sequences: SequenceRows(batch: 1, localLength: tokens, shard: nil, context: context), state: Router.State())
            }
        }
        let experts = halves.flatMap(\.experts), weights = halves.flatMap(\.weights)
        #expect((experts == single.experts) == gathers)
        if gathers { #expect(zip(weights, single.weights).allSatisfy { abs($0 - $1) < 1e-6 }) }
        #expect(experts.count == tokens * k)
    }
}
