import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel

@Suite struct ContextParallelBadInputTests {
    /// Ulysses with heads cp does not divide: the error lists the cp that work.
    @Test func ulyssesWithIndivisibleHeadsIsRefused() throws {
        var parallel = try ParallelConfig(cp: 4)
        parallel.contextCommunication = .a2a
        let error = ContextParallelError.headsDoNotSplit(what: "key/value heads", count: 2, cp: 4, valid: [1, 2])
        #expect(throws: error) { try parallel.validate(model: TinyConfigs.llama) }
        #expect(error.description.contains("cp ∈ {1, 2}"))
        parallel.contextCommunication = .ring
        try parallel.validate(model: TinyConfigs.llama)
        // tp = 3 gives 12 heads over 4 key/value heads as 4 + 4 + 4: rank 0's heads 0–3 read key/value heads 0–1,
        // not whole groups of 3, which Ulysses cannot shard over cp.
        let grouped = TransformerConfig.llama(vocabularySize: 61, contextLength: 16, hiddenSize: 48, layers: 1, heads: 12, kvHeads: 4,
                                              intermediateSize: 64, tiedEmbeddings: false)
        var uneven = try ParallelConfig(tp: 3, cp: 2)
        uneven.contextCommunication = .a2a
        #expect(throws: ContextParallelError.unsupported(
            operation: "Ulysses (a2a) attention",
            reason: "on tp=3 rank 0's query heads 0..<4 are not whole key/value groups of 3; use a tp that divides the 4 key/value heads, or the ring or allgather attention")) {
            try uneven.validate(model: grouped)
        }
    }

    @Test func aLayoutThatDoesNotUseTheRanksIsRefused() throws {
        #expect(throws: ParallelConfigError.self) { try ParallelConfig(tp: 2, cp: 2).validate(ranks: 6) }
    }

    /// A micro-batch whose sequences are shorter than cp is refused before any communication.
    @Test func aSequenceTooShortForCPIsRefused() throws {
        let parallel = try ParallelConfig(cp: 2)
        let results = try ThreadGroup.run(ranks: 2, deadline: .seconds(30)) { world -> Bool in
            let engine = try MeshEngine(config: TinyConfigs.gpt2, parallel: parallel,
                                        groups: ProcessGroups(world: world, mesh: parallel.deviceMesh()), seed: 1)
            let batch = try MicroBatch(tokens: [1, 2], targets: [2, 3], batch: 2, length: 1)
            do {
                _ = try engine.evaluate(batch)
                return false
            } catch ContextParallelError.sequenceTooShort(length: 1, cp: 2) {
                return true
            }
        }
        #expect(results == [true, true])
    }

    /// Generation runs on whole sequences: an engine with cp > 1 refuses it.
    @Test func generationWithCPIsRefused() throws {
        let parallel = try ParallelConfig(cp: 2)
        let refused = try ThreadGroup.run(ranks: 2, deadline: .seconds(30)) { world -> Bool in
            let engine = try MeshEngine(config: TinyConfigs.gpt2, parallel: parallel,
                                        groups: ProcessGroups(world: world, mesh: parallel.deviceMesh()), seed: 1)
            do {
                _ = try engine.nextTokenLogits([1, 2, 3])
                return false
            } catch ContextParallelError.unsupported {
                return true
            }
        }
        #expect(refused == [true, true])
    }
}
