import Testing
import TesseraModels
import TesseraParallel
import TesseraPipeline

/// Pipeline parallelism against the single-device run: pp ∈ {2, 4} × every schedule × m ∈ {1, 4, 8}
/// micro-batches, alone and with tp = 2, 5 AdamW steps with clipping on a global batch of 8 sequences.
///
/// A pipeline adds no reduction across ranks: each stage runs the same products on the same rows as one
/// device, gradients accumulate over the micro-batches in the same order on every schedule, and the loss
/// and gradient norm are summed in Double in rank order. So an untied model matches exactly (bit for bit):
/// losses, norms and every parameter. With tied embeddings the first stage's embedding gradient and the
/// last stage's head gradient are summed at the end of the step instead of accumulated in one buffer
/// micro-batch after micro-batch, which changes the order of fp32 additions (a few ulps; tested with the
/// data-parallel tolerance in ``MeshEquivalenceTests``). Interleaved 1F1B needs m to be a multiple of pp,
/// so m = 1 runs the other three schedules only.
@Suite(.serialized) struct PipelineEquivalenceTests {
    static let globalBatch = 8
    static let model = MeshModels.untiedLlama

    /// Single-device (and tp = 2) references, one per micro-batch count.
    static let references: [Int: MeshRun] = Dictionary(uniqueKeysWithValues: [1, 4, 8].map { m in
        (m, try! MeshHarness.train(model, ParallelConfig(microBatchSize: globalBatch / m), globalBatch: globalBatch))
    })
    static let tensorParallelReferences: [Int: MeshRun] = Dictionary(uniqueKeysWithValues: [1, 4, 8].map { m in
        (m, try! MeshHarness.train(model, ParallelConfig(tp: 2, microBatchSize: globalBatch / m), globalBatch: globalBatch))
    })

    static let cases: [(pp: Int, schedule: PipelineScheduleKind, microBatches: Int)] =
        [2, 4].flatMap { pp in
            PipelineScheduleKind.allCases.flatMap { schedule in
                [1, 4, 8].compactMap { m in schedule == .interleaved && m % pp != 0 ? nil : (pp, schedule, m) }
            }
        }

    static func layout(pp: Int, tp: Int, schedule: PipelineScheduleKind, microBatches m: Int) throws -> ParallelConfig {
        try ParallelConfig(pp: pp, tp: tp, microBatchSize: globalBatch / m,
                           pipeline: .init(schedule: schedule, virtualStages: schedule == .interleaved ? 2 : 1))
    }

    @Test(arguments: cases)
    func pipelineMatchesSingleDeviceExactly(pp: Int, schedule: PipelineScheduleKind, microBatches: Int) throws {
        let run = try MeshHarness.train(Self.model, Self.layout(pp: pp, tp: 1, schedule: schedule, microBatches: microBatches),
                                        globalBatch: Self.globalBatch)
        let reference = Self.references[microBatches]!
        #expect(run.losses == reference.losses)
        #expect(run.norms == reference.norms)
        #expect(MeshHarness.maxParameterDifference(run, reference) == 0)
    }

    /// With tp = 2 each pipeline stage is a tensor-parallel group: equal bit for bit to the pp = 1, tp = 2 run,
    /// and within the tensor-parallel tolerance of one device.
    @Test(arguments: cases)
    func pipelineWithTensorParallelismMatches(pp: Int, schedule: PipelineScheduleKind, microBatches: Int) throws {
        let run = try MeshHarness.train(Self.model, Self.layout(pp: pp, tp: 2, schedule: schedule, microBatches: microBatches),
                                        globalBatch: Self.globalBatch)
        let reference = Self.tensorParallelReferences[microBatches]!
        #expect(run.losses == reference.losses)
        #expect(run.norms == reference.norms)
        #expect(MeshHarness.maxParameterDifference(run, reference) == 0)
        MeshTolerance.check(run, against: Self.references[microBatches]!)
    }
}

/// The tolerances of runs with cross-rank reductions (tp, dp, tied embeddings over pp) against one device,
/// 5 AdamW steps at lr = 1e-2 in fp32. A reduction over ranks changes only the order of fp32 additions:
/// losses agree to ≤ 2.2e-6 relative (largest with 8 sequences per micro-batch under tp = 2) and the first step's gradient norm to ≤ 1e-7. Later norms follow the
/// weights, which drift apart because AdamW divides each update by √v: where a true gradient is ~0 the
/// update is rounding noise of size O(lr), so parameters differ by ≤ 1.3e-4 and later norms by ≤ 2.3e-4
/// relative (largest values seen over the whole matrix). A missing reduction moves losses by ≥ 1e-4 and
/// parameters by ~1e-2.
enum MeshTolerance {
    static let loss = 1e-5
    static let firstNorm = 1e-6
    static let norm = 1e-3
    static let parameter: Float = 2e-4

    /// Checks `run` against `reference` with these tolerances.
    static func check(_ run: MeshRun, against reference: MeshRun, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(MeshHarness.maxRelativeDifference(run.losses, reference.losses) < loss, sourceLocation: sourceLocation)
        let norms = run.norms.map(Double.init), referenceNorms = reference.norms.map(Double.init)
        #expect(MeshHarness.maxRelativeDifference(Array(norms.prefix(1)), Array(referenceNorms.prefix(1))) < firstNorm,
                sourceLocation: sourceLocation)
        #expect(MeshHarness.maxRelativeDifference(norms, referenceNorms) < norm, sourceLocation: sourceLocation)
        #expect(MeshHarness.maxParameterDifference(run, reference) < parameter, sourceLocation: sourceLocation)
    }

    /// Whether `run` is outside the tolerances (a broken variant must be).
    static func isCaught(_ run: MeshRun, against reference: MeshRun) -> Bool {
        MeshHarness.maxRelativeDifference(run.losses, reference.losses) >= loss
            || MeshHarness.maxParameterDifference(run, reference) >= parameter
    }
}
