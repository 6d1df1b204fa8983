import Testing
import TesseraModels
import TesseraParallel

/// tp × sequence parallelism against the single-device run: 5 AdamW steps with clipping, weight decay and
/// 2 micro-batches of gradient accumulation per step.
///
/// Tolerances (fp32): losses within 1e-6 and gradient norms within 1e-5 relative, the first step's gathered
/// gradients within 1e-5 of the largest gradient, every gathered parameter within 2e-4 absolute. Splitting a product over tp changes only the order of fp32 additions, a few ulps per
/// operation: losses agree to ~5e-8, norms (which follow the drifting weights) to ~2e-6. Parameters differ more because AdamW divides each update
/// by √v: where the true gradient is zero (GPT-2's key bias: adding a constant to every score of a softmax
/// row changes nothing) the gradient is pure rounding noise and its normalized update is O(lr); we saw
/// ≤ 1e-4 after 5 steps at lr = 1e-2. A missing collective moves losses by ~1e-2 and weights by ~1e-1.
@Suite(.serialized) struct TensorParallelEquivalenceTests {
    static let lossTolerance = 1e-6
    static let normTolerance = 1e-5
    static let parameterTolerance: Float = 2e-4
    static let gradientTolerance: Float = 1e-5

    static let gpt2Reference = try! Harness.train(TinyConfigs.gpt2, tp: 1)
    static let llamaReference = try! Harness.train(TinyConfigs.llama, tp: 1)
    static let qwen2Reference = try! Harness.train(TinyConfigs.qwen2, tp: 1)

    @Test(arguments: [(2, false), (2, true), (3, false), (3, true), (4, false), (4, true)])
    func gpt2MatchesSingleDevice(tp: Int, sequenceParallel: Bool) throws {
        Self.expectEqual(try Harness.train(TinyConfigs.gpt2, tp: tp, sequenceParallel: sequenceParallel), Self.gpt2Reference)
    }

    /// tp = 4 exceeds the 2 key/value heads: they are replicated and their gradients summed over tp.
    @Test(arguments: [(2, false), (2, true), (4, false), (4, true)])
    func llamaMatchesSingleDevice(tp: Int, sequenceParallel: Bool) throws {
        Self.expectEqual(try Harness.train(TinyConfigs.llama, tp: tp, sequenceParallel: sequenceParallel), Self.llamaReference)
    }

    /// The query/key/value biases are column-parallel: each rank holds and trains the slice of its heads (at
    /// tp = 4, the replicated key/value biases with their heads, gradients summed over tp).
    @Test(arguments: [(2, false), (2, true), (4, false)])
    func qwen2MatchesSingleDevice(tp: Int, sequenceParallel: Bool) throws {
        Self.expectEqual(try Harness.train(TinyConfigs.qwen2, tp: tp, sequenceParallel: sequenceParallel), Self.qwen2Reference)
    }

    static func expectEqual(_ run: TrainingRun, _ reference: TrainingRun) {
        #expect(Harness.maxRelativeDifference(run.losses, reference.losses) < lossTolerance)
        #expect(Harness.maxRelativeDifference(run.norms.map(Double.init), reference.norms.map(Double.init)) < normTolerance)
        #expect(Harness.maxParameterDifference(run, reference) < parameterTolerance)
        #expect(Harness.maxGradientDifference(run, reference) < gradientTolerance)
    }

    /// The training actually moves the weights (so equality is not vacuous).
    @Test func trainingChangesTheModel() throws {
        let reference = Self.gpt2Reference
        #expect(reference.losses.last! < reference.losses.first!)
    }

    /// Replacing one mapping by the identity breaks the equality the tests above check.
    @Test(arguments: [ConjugateMapping.copyToTensorRegion, .reduceFromTensorRegion])
    func brokenMappingIsCaught(_ broken: ConjugateMapping) throws {
        var mappings = MappingTable.megatron
        if broken == .copyToTensorRegion { mappings.copyToTensorRegion = .identity } else { mappings.reduceFromTensorRegion = .identity }
        let run = try Harness.train(TinyConfigs.llama, tp: 2, mappings: mappings)
        let reference = Self.llamaReference
        let lossesDiffer = Harness.maxRelativeDifference(run.losses, reference.losses) >= Self.lossTolerance
        #expect(lossesDiffer || Harness.maxParameterDifference(run, reference) >= Self.parameterTolerance)
    }
}
