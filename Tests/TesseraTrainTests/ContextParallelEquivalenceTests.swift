import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel

/// Context parallelism equals the single device: tiny GPT-2 and tiny Llama (8 layers, sequences of 8 tokens, so
/// cp = 3 cuts uneven chunks), cp ∈ {2, 3, 4} with each attention, and cp with tp (sequence parallelism), pp, dp,
/// ZeRO 1 and recomputation up to 8 thread ranks: 5 AdamW steps with clipping, losses, gradient norms and every
/// gathered parameter within ``MeshTolerance`` of the single-device run.
@Suite(.serialized) struct ContextParallelEquivalenceTests {
    static let globalBatch = 4

    struct Case: Sendable, CustomTestStringConvertible {
        var model: String
        var cp: Int, communication: ContextCommunication
        var dp = 1, pp = 1, tp = 1, sequenceParallel = false, zeroStage = 0, recompute = Recomputation.none
        var testDescription: String {
            "\(model) cp=\(cp) \(communication) dp=\(dp) pp=\(pp) tp=\(tp)\(sequenceParallel ? " sp" : "") zero=\(zeroStage) recompute=\(recompute)"
        }
        var config: TransformerConfig { model == "gpt2" ? MeshModels.gpt2 : MeshModels.llama }
        var parallel: ParallelConfig {
            get throws {
                var parallel = try ParallelConfig(dp: dp, pp: pp, tp: tp, cp: cp, sequenceParallel: sequenceParallel, microBatchSize: 1,
                                                  memory: .init(recompute: recompute, zeroStage: zeroStage, bucketElements: 4096))
                parallel.contextCommunication = communication
                return parallel
            }
        }
    }

    /// cp alone: every cp and attention the heads allow (Ulysses needs cp to divide GPT-2's 8 heads and Llama's 2
    /// key/value heads).
    static let alone: [Case] = ["gpt2", "llama"].flatMap { model in
        [2, 3, 4].flatMap { cp in
            ContextCommunication.allCases.compactMap { communication in
                let heads = model == "gpt2" ? 8 : 2
                return communication == .a2a && heads % cp != 0 ? nil : Case(model: model, cp: cp, communication: communication)
            }
        }
    }

    /// cp with the other axes and memory options, up to 8 ranks.
    static let combined: [Case] = [
        Case(model: "llama", cp: 2, communication: .ring, tp: 2, sequenceParallel: true),
        Case(model: "gpt2", cp: 2, communication: .a2a, tp: 2, sequenceParallel: true),
        Case(model: "gpt2", cp: 2, communication: .allgather, pp: 2),
        Case(model: "llama", cp: 2, communication: .ring, dp: 2, zeroStage: 1),
        Case(model: "llama", cp: 2, communication: .ring, pp: 2, tp: 2, sequenceParallel: true),
        Case(model: "gpt2", cp: 4, communication: .ring, tp: 2),
        Case(model: "gpt2", cp: 2, communication: .ring, dp: 2, tp: 2, zeroStage: 1),
        Case(model: "llama", cp: 3, communication: .ring, recompute: .selective),
        Case(model: "gpt2", cp: 2, communication: .a2a, recompute: .full),
        // Uneven tp: 8 heads over 3 ranks (3 + 3 + 2), ranks 1 and 2 starting inside a key/value group.
        Case(model: "llama", cp: 2, communication: .ring, tp: 3),
    ]

    static let references: [String: MeshRun] = [
        "gpt2": try! MeshHarness.train(MeshModels.gpt2, ParallelConfig(), globalBatch: globalBatch),
        "llama": try! MeshHarness.train(MeshModels.llama, ParallelConfig(), globalBatch: globalBatch),
    ]

    static func run(_ c: Case, faults: ContextParallelFaults = []) throws -> MeshRun {
        try MeshHarness.train(c.config, c.parallel, globalBatch: globalBatch, contextFaults: faults)
    }

    @Test(arguments: alone)
    func contextParallelMatchesSingleDevice(_ c: Case) throws {
        MeshTolerance.check(try Self.run(c), against: Self.references[c.model]!)
    }

    @Test(arguments: combined)
    func contextParallelWithOtherAxesMatchesSingleDevice(_ c: Case) throws {
        let run = try Self.run(c)
        MeshTolerance.check(run, against: Self.references[c.model]!)
        #expect(run.tiedCopiesAgree)
    }

    /// Not vacuous: a diagonal block without its causal mask, or chunks cut in the wrong order, fails the same check.
    @Test(arguments: [(ContextParallelFaults.unmaskedDiagonal, ContextCommunication.ring), (.unmaskedDiagonal, .allgather),
                      (.unmaskedDiagonal, .a2a), (.swappedChunks, .ring), (.swappedChunks, .a2a)])
    func brokenContextParallelismIsCaught(fault: ContextParallelFaults, communication: ContextCommunication) throws {
        let c = Case(model: "gpt2", cp: 2, communication: communication)
        #expect(MeshTolerance.isCaught(try Self.run(c, faults: fault), against: Self.references["gpt2"]!))
    }

    /// Evaluation (`tessera eval --cp N`): the loss sum over the cp group equals the single device's.
    @Test(arguments: [(2, ContextCommunication.ring), (3, .allgather), (4, .ring), (2, .a2a)])
    func evaluationMatchesSingleDevice(cp: Int, communication: ContextCommunication) throws {
        let config = MeshModels.gpt2, length = 11
        let ids = MeshHarness.sequence(step: 9, sequence: 0, length: 2 * length, vocabulary: config.vocabularySize)
        let batch = try MicroBatch(tokens: Array(ids[0..<2 * length]), targets: Array(ids[1...2 * length]), batch: 2, length: length)
        let single = try MeshEngine(config: config, seed: 11).evaluate(batch)
        var layout = try ParallelConfig(cp: cp)
        layout.contextCommunication = communication
        let parallel = layout
        let results = try ThreadGroup.run(ranks: cp, deadline: .seconds(60)) { world in
            let engine = try MeshEngine(config: config, parallel: parallel, groups: ProcessGroups(world: world, mesh: parallel.deviceMesh()), seed: 11)
            return try engine.evaluate(batch)
        }
        for result in results {
            #expect(result.tokens == single.tokens)
            #expect(abs(result.lossSum - single.lossSum) / single.lossSum < 1e-5)
        }
    }
}
