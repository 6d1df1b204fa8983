import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel

/// With pp > 1 a decoding step's sequences flow through the stages as up to pp micro-batches (stage `s` on group `g`
/// while stage `s + 1` is on group `g − 1`). Rows are row-stable and each sequence attends only to its own blocks,
/// so the split step gives exactly the bits of the unsplit one on one stage.
@Suite(.serialized) struct PipelinedDecodingTests {
    /// Each sequence's logits (one per new id) of ``BatchedDecodingTests/together(_:corrupt:)`` (steps of 1 to 8
    /// sequences of different lengths, prompt chunks mixed with decode rows) on `ranks` threads of `layout`.
    static func together(_ config: TransformerConfig, _ layout: ParallelConfig,
                         corrupt: (@Sendable (KVBlockTable) -> Void)? = nil) throws -> [[[[Float]]]] {
        try ThreadGroup.run(ranks: layout.ranks, deadline: .seconds(60)) { world in
            let engine = try MeshEngine(config: config, parallel: layout, groups: ProcessGroups(world: world, mesh: layout.deviceMesh()), seed: 4)
            return try BatchedDecodingTests.together(engine, corrupt: corrupt)
        }
    }

    /// pp = 2 against pp = 1, and tp × pp = 2 × 2 against tp = 2: every rank's logits equal, bit for bit.
    @Test(arguments: [1, 2])
    func aPipelinedStepGivesTheBitsOfOneStage(tp: Int) throws {
        let config = TinyConfigs.llama
        let reference = try Self.together(config, ParallelConfig(tp: tp))[0]
        for logits in try Self.together(config, ParallelConfig(pp: 2, tp: tp)) {
            #expect(logits == reference)
        }
    }

    /// Non-vacuity: on the pipeline, a batch that loses a cached token differs from the reference, so the exact
    /// comparison above sees a step that mixes up its groups' states.
    @Test func aPipelinedBatchThatLosesACachedTokenIsCaught() throws {
        let config = TinyConfigs.llama
        let reference = try Self.together(config, .singleDevice)[0]
        let broken = try Self.together(config, ParallelConfig(pp: 2)) { $0.count -= 1 }
        #expect(broken.allSatisfy { $0 != reference })
    }

    /// The groups of a step: consecutive, non-empty, covering every segment once, `min(pp, segments)` of them, and
    /// about equal in rows.
    @Test func groupsSplitTheSegmentsInOrder() {
        #expect(DecodeBatch.groups(rows: [1, 1, 1], into: 2) == [0..<2, 2..<3])
        #expect(DecodeBatch.groups(rows: [5, 1, 1, 1, 1, 1], into: 2) == [0..<1, 1..<6])
        #expect(DecodeBatch.groups(rows: [1, 1, 1, 1, 1, 1, 1, 1], into: 4) == [0..<2, 2..<4, 4..<6, 6..<8])
        #expect(DecodeBatch.groups(rows: [9, 9], into: 4) == [0..<1, 1..<2])
        #expect(DecodeBatch.groups(rows: [3, 1, 2], into: 1) == [0..<3])
        #expect(DecodeBatch.groups(rows: [], into: 2) == [0..<0])
        for count in 1...9 {
            let rows = (0..<count).map { 1 + $0 * 7 % 5 }
            for stages in 1...4 {
                let groups = DecodeBatch.groups(rows: rows, into: stages)
                #expect(groups.count == min(stages, count) && groups.allSatisfy { !$0.isEmpty })
                #expect(groups.first?.lowerBound == 0 && groups.last?.upperBound == count)
                #expect(zip(groups, groups.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            }
        }
    }
}
