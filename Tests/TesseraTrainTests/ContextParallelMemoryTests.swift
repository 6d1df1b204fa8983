import Testing
import TesseraModels
import TesseraParallel

/// The activation bytes printed before the first step (``MeshEngine/memory(forMicroBatchOf:length:microBatches:)``)
/// are the bytes a context-parallel step then saves, Ulysses' head shards included, with each recomputation.
@Suite(.serialized) struct ContextParallelMemoryTests {
    static func run(_ model: TransformerConfig, cp: Int, _ communication: ContextCommunication, recompute: Recomputation) throws -> MeshRun {
        var parallel = try ParallelConfig(cp: cp, microBatchSize: 1, memory: .init(recompute: recompute))
        parallel.contextCommunication = communication
        return try MeshHarness.train(model, parallel, globalBatch: 2, steps: 1)
    }

    /// GPT-2 (8 heads) and Llama (2 key/value heads), cp = 2, every recomputation: predicted = measured on every
    /// rank. Non-vacuity: Ulysses saves more than the ring on the same layout, so a prediction without its head
    /// shards (the ring's) would fail.
    @Test(arguments: [Recomputation.none, .selective, .full])
    func predictionEqualsTheSavedBytes(recompute: Recomputation) throws {
        for model in [MeshModels.gpt2, MeshModels.llama] {
            let ulysses = try Self.run(model, cp: 2, .a2a, recompute: recompute)
            let ring = try Self.run(model, cp: 2, .ring, recompute: recompute)
            #expect(ulysses.predictedMemory.map(\.activationBytes) == ulysses.memory.map(\.activationBytes))
            #expect(ring.predictedMemory.map(\.activationBytes) == ring.memory.map(\.activationBytes))
            for (a2a, ring) in zip(ulysses.memory, ring.memory) { #expect(a2a.activationBytes > ring.activationBytes) }
        }
    }

    /// Ulysses with cp = 4 on GPT-2's 8 heads: the prediction holds where each rank keeps a quarter of the heads.
    @Test func predictionHoldsAtCPFour() throws {
        let run = try Self.run(MeshModels.gpt2, cp: 4, .a2a, recompute: .none)
        #expect(run.predictedMemory.map(\.activationBytes) == run.memory.map(\.activationBytes))
    }
}
