import Testing
import TesseraCollectives
import TesseraModels
import TesseraNN
import TesseraParallel

/// The chunk API a pipeline executor drives: several chunks, several micro-batches in flight, and the
/// backward split into input (B) and weight (W) work give the same gradients as one whole-model pass.
@Suite struct ChunkTests {
    static func gradients(chunked: Bool, split: Bool, config: TransformerConfig = TinyConfigs.llama) throws -> [[Float]] {
        let model = try Transformer(config: config, seed: 8, chunkLayers: chunked ? [0..<1, 1..<2] : nil)
        let batches = Harness.microBatches(step: 0, count: 2, batch: 2, length: 6, vocabulary: config.vocabularySize)
        let scale = 1 / Float(batches.count * batches[0].tokenCount)
        // Forward both micro-batches through every chunk before any backward (states kept apart).
        let states = batches.map { _ in model.chunks.map { $0.makeState() } }
        for (batch, chunkStates) in zip(batches, states) {
            var activation: FloatBuffer?
            for (chunk, state) in zip(model.chunks, chunkStates) {
                activation = try chunk.forward(batch, input: activation.map { UnsafePointer($0.pointer) }, state: state, lossScale: scale)
            }
        }
        for chunkStates in states.reversed() {
            var gradient: FloatBuffer?
            for (chunk, state) in zip(model.chunks, chunkStates).reversed() {
                gradient = try chunk.backward(outputGradient: gradient?.pointer, state: state, mode: split ? .inputOnly : .full)
            }
        }
        if split {
            for chunkStates in states { for (chunk, state) in zip(model.chunks, chunkStates) { chunk.backwardWeights(state: state) } }
        }
        return model.store.parameters.map { Array($0.gradient) }
    }

    @Test func chunksAndSplitBackwardMatchTheWholeModel() throws {
        let whole = try Self.gradients(chunked: false, split: false)
        #expect(try Self.gradients(chunked: true, split: false) == whole)
        #expect(try Self.gradients(chunked: false, split: true) == whole)
        #expect(try Self.gradients(chunked: true, split: true) == whole)
        #expect(whole.allSatisfy { $0.contains { $0 != 0 } })
    }

    /// A last pipeline stage holds its own copy of a tied embedding, equal to the first stage's at
    /// initialization and left out of the global norm (the first stage counts it).
    @Test func tiedHeadOnTheLastStageIsACopy() throws {
        let first = try Transformer(config: TinyConfigs.gpt2, seed: 2, chunkLayers: [0..<1])
        let last = try Transformer(config: TinyConfigs.gpt2, seed: 2, chunkLayers: [1..<2])
        let name = TinyConfigs.gpt2.tokenEmbeddingName
        #expect(Array(first.store[name]!.value) == Array(last.store[name]!.value))
        #expect(first.store[name]!.spec.countsInGlobalNorm && !last.store[name]!.spec.countsInGlobalNorm)
        #expect(first.chunks[0].isFirst && !first.chunks[0].isLast && last.chunks[0].isLast && !last.chunks[0].isFirst)
    }

    /// Per-rank activation bytes fall about as 1/tp with sequence parallelism (Korthikanti et al. 2022).
    @Test func sequenceParallelismDividesActivations() throws {
        let config = TinyConfigs.gpt2
        func activationBytes(tp: Int, sequenceParallel: Bool) throws -> Int {
            try ThreadGroup.run(ranks: tp, deadline: .seconds(30)) { world in
                let groups = try ProcessGroups(world: world, mesh: DeviceMesh(tp: tp))
                let engine = try MeshEngine(config: config, groups: groups, seed: 1, sequenceParallel: sequenceParallel)
                _ = try engine.trainStep(Harness.microBatches(step: 0, count: 1, batch: 2, length: 12, vocabulary: 61),
                                         learningRate: 1e-3, maxGradientNorm: nil)
                return engine.memory.activationBytes
            }[0]
        }
        let single = Double(try activationBytes(tp: 1, sequenceParallel: false))
        let tensorOnly = Double(try activationBytes(tp: 4, sequenceParallel: false))
        let sequence = Double(try activationBytes(tp: 4, sequenceParallel: true))
        #expect(sequence / single > 0.2 && sequence / single < 0.3)
        #expect(tensorOnly > 1.5 * sequence)
    }
}
