import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel

/// Batched decoding of mixture-of-experts models: a sequence's logits are the same bits alone and inside a batch of
/// eight, though the batch changes how many rows each expert gets (and, for Qwen2-MoE, how many rows the shared
/// expert and its gate see): the router, the experts and the shared expert run the fixed-order products in decoding.
struct ExpertBatchInvarianceTests {
    @Test(arguments: [TinyConfigs.mixtral, TinyConfigs.qwen2MoE])
    func aSequenceGetsTheSameBitsAloneAndInABatchOfEight(config: TransformerConfig) throws {
        let engine = try MeshEngine(config: config, seed: 4)
        #expect(try BatchedDecodingTests.together(engine) == BatchedDecodingTests.alone(engine))
    }

    /// On tp 2 with experts split over tp the partial outputs are summed in rank order per element: still invariant.
    @Test func splitExpertsOnTensorParallelismStayInvariant() throws {
        var layout = try ParallelConfig(tp: 2)
        layout.expertTensorParallelism = .split
        let parallel = layout
        let invariant = try ThreadGroup.run(ranks: 2, deadline: .seconds(60)) { world in
            let engine = try MeshEngine(config: TinyConfigs.mixtral, parallel: parallel, groups: ProcessGroups(world: world, mesh: parallel.deviceMesh()),
                                        seed: 4)
            return try BatchedDecodingTests.together(engine) == BatchedDecodingTests.alone(engine)
        }
        #expect(invariant.allSatisfy { $0 })
    }
}
