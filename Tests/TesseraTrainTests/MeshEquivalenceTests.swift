import Testing
import TesseraModels
import TesseraParallel

/// The equivalence matrix: every layout with dp · pp · tp ≤ 8 (tp ∈ {1, 2, 4, 8} divides the 8 heads, dp
/// divides the global batch of 24 sequences, pp up to the 8 layers, unevenly split where it must), with and
/// without sequence parallelism and with ZeRO 0 and 1, on tiny GPT-2 and tiny Llama (both with tied
/// embeddings), 5 AdamW steps with clipping and 24 / dp micro-batches of one sequence per rank. Losses, norms
/// and every gathered parameter equal the single-device run within ``MeshTolerance``.
@Suite(.serialized) struct MeshEquivalenceTests {
    static let globalBatch = 24

    struct Layout: Sendable, CustomTestStringConvertible {
        var dp: Int, pp: Int, tp: Int, sequenceParallel: Bool, zeroStage: Int
        var testDescription: String { "dp=\(dp) pp=\(pp) tp=\(tp)\(sequenceParallel ? " sp" : "") zero=\(zeroStage)" }
        var parallel: ParallelConfig {
            get throws {
                try ParallelConfig(dp: dp, pp: pp, tp: tp, sequenceParallel: sequenceParallel, microBatchSize: 1,
                                   memory: .init(zeroStage: zeroStage, bucketElements: 4096))
            }
        }
    }

    static let layouts: [Layout] = {
        var layouts: [Layout] = []
        for tp in [1, 2, 4, 8] {
            for dp in [1, 2, 3, 4, 6, 8] {
                for pp in 1...8 where dp * pp * tp <= 8 && dp * pp * tp > 1 {
                    for sp in [false, true] where !sp || tp > 1 {
                        for zero in [0, 1] where zero == 0 || dp > 1 {
                            layouts.append(Layout(dp: dp, pp: pp, tp: tp, sequenceParallel: sp, zeroStage: zero))
                        }
                    }
                }
            }
        }
        return layouts
    }()

    static let gpt2Reference = try! MeshHarness.train(MeshModels.gpt2, ParallelConfig(), globalBatch: globalBatch)
    static let llamaReference = try! MeshHarness.train(MeshModels.llama, ParallelConfig(), globalBatch: globalBatch)

    static func check(_ run: MeshRun, against reference: MeshRun, sourceLocation: SourceLocation = #_sourceLocation) {
        MeshTolerance.check(run, against: reference, sourceLocation: sourceLocation)
        // The last stage's copy of the tied embedding stays equal to the first stage's, bit for bit.
        #expect(run.tiedCopiesAgree, sourceLocation: sourceLocation)
    }

    /// Not vacuous: 5 steps move the parameters far more than the tolerance.
    @Test func referencesTrain() throws {
        for (model, reference) in [(MeshModels.gpt2, Self.gpt2Reference), (MeshModels.llama, Self.llamaReference)] {
            let initial = try MeshHarness.train(model, ParallelConfig(), globalBatch: Self.globalBatch, steps: 0)
            #expect(MeshHarness.maxParameterDifference(reference, initial) > 100 * MeshTolerance.parameter)
        }
    }

    @Test(arguments: layouts)
    func gpt2MatchesSingleDevice(_ layout: Layout) throws {
        Self.check(try MeshHarness.train(MeshModels.gpt2, layout.parallel, globalBatch: Self.globalBatch), against: Self.gpt2Reference)
    }

    @Test(arguments: layouts)
    func llamaMatchesSingleDevice(_ layout: Layout) throws {
        Self.check(try MeshHarness.train(MeshModels.llama, layout.parallel, globalBatch: Self.globalBatch), against: Self.llamaReference)
    }
}

/// Each reduction left out breaks the equality the matrix checks, so the matrix can fail.
@Suite(.serialized) struct BrokenReductionTests {
    static let reference = MeshEquivalenceTests.llamaReference

    static func run(_ parallel: ParallelConfig, without missing: GradientSynchronization) throws -> MeshRun {
        try MeshHarness.train(MeshModels.llama, parallel, globalBatch: MeshEquivalenceTests.globalBatch,
                              synchronization: GradientSynchronization.all.subtracting(missing))
    }

    @Test(arguments: [0, 1])
    func missingDataParallelReductionIsCaught(zeroStage: Int) throws {
        let parallel = try ParallelConfig(dp: 2, memory: .init(zeroStage: zeroStage))
        #expect(MeshTolerance.isCaught(try Self.run(parallel, without: .dataParallel), against: Self.reference))
    }

    @Test func skippedEmbeddingSumIsCaught() throws {
        let run = try Self.run(ParallelConfig(pp: 2), without: .embedding)
        #expect(MeshTolerance.isCaught(run, against: Self.reference))
        #expect(!run.tiedCopiesAgree)
    }

    @Test func missingSequenceParallelNormSumIsCaught() throws {
        let run = try Self.run(ParallelConfig(tp: 2, sequenceParallel: true), without: .tensorParallelPartial)
        #expect(MeshTolerance.isCaught(run, against: Self.reference))
    }

    @Test func brokenMappingIsCaught() throws {
        var mappings = MappingTable.megatron
        mappings.reduceFromTensorRegion = .identity
        let run = try MeshHarness.train(MeshModels.llama, ParallelConfig(pp: 2, tp: 2), globalBatch: MeshEquivalenceTests.globalBatch,
                                        mappings: mappings)
        #expect(MeshTolerance.isCaught(run, against: Self.reference))
    }
}
