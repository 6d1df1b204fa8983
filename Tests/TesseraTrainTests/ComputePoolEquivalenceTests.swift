import Testing
import TesseraModels
import TesseraParallel
import TesseraTensor

/// A rank's compute pool changes the speed, never the numbers: training with every kernel split over 2 or 3
/// threads gives bitwise the losses, gradient norms and parameters of the serial run.
@Suite(.serialized) struct ComputePoolEquivalenceTests {
    /// Pools that split every kernel, however small (the default threshold would leave a tiny model serial).
    static func splittingPool(_ threads: Int) -> ComputePool { ComputePool(threads: threads, minimumElementsPerThread: 1) }

    @Test(arguments: [("gpt2", MeshModels.gpt2), ("llama", MeshModels.llama)])
    func poolSizesTrainIdentically(_ name: String, _ config: TransformerConfig) throws {
        let layout = try ParallelConfig(microBatchSize: 2)
        let serial = try MeshHarness.train(config, layout, globalBatch: 4, steps: 3)
        for threads in [2, 3] {
            let pooled = try MeshHarness.train(config, layout, globalBatch: 4, steps: 3, pool: Self.splittingPool(threads))
            #expect(pooled.losses == serial.losses, "\(name), \(threads) threads")
            #expect(pooled.norms == serial.norms, "\(name), \(threads) threads")
            #expect(pooled.parameters == serial.parameters, "\(name), \(threads) threads")
        }
    }

    /// The comparison is bitwise: a learning rate one ulp away already shows in the parameters.
    @Test func comparisonSeesOneUlp() throws {
        let layout = try ParallelConfig(microBatchSize: 2)
        let serial = try MeshHarness.train(MeshModels.gpt2, layout, globalBatch: 4, steps: 3)
        let nudged = try MeshHarness.train(MeshModels.gpt2, layout, globalBatch: 4, steps: 3, pool: Self.splittingPool(2),
                                           learningRate: MeshHarness.learningRate.nextUp)
        #expect(nudged.parameters != serial.parameters)
    }
}
