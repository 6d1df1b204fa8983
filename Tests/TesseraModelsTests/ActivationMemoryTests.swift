import Testing
import TesseraCollectives
import TesseraModels

/// The activation bytes predicted before the first step equal those the step saved, on every rank and layout,
/// and fall as 1/tp with sequence parallelism.
@Suite(.serialized) struct ActivationMemoryTests {
    /// Per rank: (predicted at start, measured after one step, predicted with sequence parallelism flipped).
    static func bytes(_ config: TransformerConfig, tp: Int, sequenceParallel: Bool, batch: Int, length: Int) throws -> [(Int, Int, Int)] {
        try ThreadGroup.run(ranks: tp, deadline: .seconds(60)) { world in
            let groups = try ProcessGroups(world: world, mesh: DeviceMesh(tp: tp))
            let engine = try MeshEngine(config: config, groups: groups, seed: 2, sequenceParallel: sequenceParallel)
            let predicted = try engine.memory(forMicroBatchOf: batch, length: length, microBatches: 2).activationBytes
            #expect(engine.memory.activationBytes == 0, "nothing is saved before the first step")
            let batches = Harness.microBatches(step: 0, count: 2, batch: batch, length: length, vocabulary: config.vocabularySize)
            _ = try engine.trainStep(batches, learningRate: 1e-3, maxGradientNorm: 1)
            let flipped = config.savedActivationBytes(batch: batch, length: length, tp: tp, rank: world.rank,
                                                      sequenceParallel: !sequenceParallel)
            return (predicted, engine.memory.activationBytes, flipped)
        }
    }

    /// GPT-2 and Llama (grouped-query attention; tp = 4 replicates its key/value heads), vocabulary 61 in unequal
    /// shares, and uneven heads and MLP features (6 heads over 2 key/value heads, 70 features on tp = 4): the
    /// prediction is exact on every rank. Non-vacuity: the prediction for the other sequence-parallel setting is not.
    @Test(arguments: [(TinyConfigs.gpt2, 1, false), (TinyConfigs.gpt2, 3, false), (TinyConfigs.gpt2, 4, true),
                      (TinyConfigs.llama, 2, true), (TinyConfigs.llama, 4, false), (TinyConfigs.llama, 4, true),
                      (UnevenTensorParallelTests.llama, 4, true)])
    func predictionEqualsTheBytesSavedByAStep(config: TransformerConfig, tp: Int, sequenceParallel: Bool) throws {
        for (rank, (predicted, measured, flipped)) in try Self.bytes(config, tp: tp, sequenceParallel: sequenceParallel,
                                                                     batch: 2, length: 6).enumerated() {
            #expect(predicted == measured, "rank \(rank)")
            if tp > 1 { #expect(flipped != measured, "rank \(rank)") }
        }
    }

    /// With sequence parallelism the largest rank's activations are within 3% of 1/tp of the single device's
    /// (the uneven vocabulary shard is the only excess); without it the replicated norms and residuals keep them
    /// well above (Korthikanti et al. 2022).
    @Test func sequenceParallelActivationsFallAsOneOverTP() {
        let config = TinyConfigs.gpt2, batch = 4, length = 12
        let single = Double(config.savedActivationBytes(batch: batch, length: length))
        for tp in [2, 3, 4, 6, 12] {
            func largest(_ sequenceParallel: Bool) -> Double {
                Double((0..<tp).map { config.savedActivationBytes(batch: batch, length: length, tp: tp, rank: $0,
                                                                  sequenceParallel: sequenceParallel) }.max()!)
            }
            #expect(largest(true) * Double(tp) / single <= 1.03, "tp=\(tp) with sequence parallelism")
            #expect(largest(true) * Double(tp) / single >= 1, "tp=\(tp) with sequence parallelism")
            #expect(largest(false) * Double(tp) / single >= 1.2, "tp=\(tp) without")
        }
    }
}
