import Foundation
import TesseraCollectives
import TesseraModels
import TesseraNN

/// One rank's training run: the step loop over ``TrainingData`` in ``BatchOrder``'s order, with the learning-rate
/// schedule, gradient accumulation over micro-batches and the engine's reductions, clipping and AdamW.
///
/// Every rank of the job builds one trainer with the same configuration and data and calls ``step(_:)`` (or
/// ``run(onStep:)``) in lockstep; each rank computes the same ``StepMetrics`` (the engine reduces the loss and
/// the gradient norm over the ranks), so any rank may report them. The CLI reports from world rank 0.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let engine: TransformerEngine
    public let data: TrainingData
    public let layout: BatchLayout
    public let schedule: LearningRateSchedule
    /// This rank's position on the data-parallel axis (which slice of the global batch it reads).
    public let dataRank: Int
    private var startTime: UInt64?

    /// - Parameters:
    ///   - engine: this rank's engine, built for `configuration` (``makeEngine(configuration:config:world:)``).
    ///   - data: the tokenized text, checked against the model's vocabulary and the batch shape.
    /// - Throws: ``TrainingError/invalidOption(option:reason:)`` when the options contradict each other or the
    ///   model (a sequence longer than its context).
    public init(configuration: TrainingConfiguration, engine: TransformerEngine, data: TrainingData) throws {
        try configuration.validate(for: engine.config)
        guard data.order.sequenceLength == configuration.data.sequenceLength,
              data.order.globalBatchSize == configuration.batch.globalBatchSize else {
            preconditionFailure("the training data was prepared for another batch shape")
        }
        let dataParallel = engine.groups?.mesh.dp ?? 1
        self.configuration = configuration
        self.engine = engine
        self.data = data
        self.layout = try BatchLayout(globalBatchSize: configuration.batch.globalBatchSize,
                                      microBatchSize: configuration.batch.microBatchSize, dataParallelSize: dataParallel)
        self.schedule = configuration.optimizer.learningRateSchedule(steps: configuration.steps)
        self.dataRank = engine.groups?.coordinate.dp ?? 0
    }

    /// Builds this rank's engine: freshly initialized from `config` and the configuration's seed, split over the
    /// layout's groups (built collectively from `world`; `nil` on one device).
    /// - Throws: ``ModelError`` when the model does not split over the layout (naming the valid choices);
    ///   ``MeshError`` when the layout does not use exactly the world's ranks; ``CollectiveError``.
    public static func makeEngine(configuration: TrainingConfiguration, config: TransformerConfig,
                                  world: (any Communicator)?) throws -> TransformerEngine {
        let groups = try processGroups(configuration.parallelism, world: world)
        return try TransformerEngine(config: config, groups: groups, seed: configuration.seed,
                                     sequenceParallel: configuration.parallelism.sequenceParallel,
                                     optimizer: configuration.optimizer.adamW)
    }

    /// The process groups of a layout over `world` (`nil` without a world).
    public static func processGroups(_ parallelism: TrainingConfiguration.Parallelism,
                                     world: (any Communicator)?) throws -> ProcessGroups? {
        guard let world else { return nil }
        let mesh = try DeviceMesh(tp: parallelism.tensorParallel)
        return try ProcessGroups(world: world, mesh: mesh)
    }

    /// The micro-batches this rank runs in step `step` (from 0).
    public func microBatches(step: Int) throws -> [MicroBatch] {
        try (0..<layout.microBatchesPerRank).map { m in
            let sequences = layout.sequences(microBatch: m, dataRank: dataRank)
            let batch = data.batch(step: step, sequences: sequences)
            return try MicroBatch(tokens: batch.inputs, targets: batch.targets, batch: sequences.count,
                                  length: data.order.sequenceLength)
        }
    }

    /// Takes optimizer step `step` (from 1) and returns its figures.
    /// - Throws: ``ModelError`` for invalid batches; ``CollectiveError`` when a peer fails.
    public func step(_ step: Int) throws -> StepMetrics {
        let begin = DispatchTime.now().uptimeNanoseconds
        if startTime == nil { startTime = begin }
        let learningRate = schedule.learningRate(atStep: step)
        let clip = configuration.optimizer.gradientClip.flatMap { $0 > 0 ? $0 : nil }
        let tokens = configuration.batch.globalBatchSize * configuration.data.sequenceLength
        let report = try engine.trainStep(try microBatches(step: step - 1), learningRate: learningRate,
                                          maxGradientNorm: clip, globalTokens: tokens)
        let end = DispatchTime.now().uptimeNanoseconds
        return StepMetrics(step: step, loss: report.loss, learningRate: Double(learningRate),
                           gradientNorm: Double(report.gradientNorm), tokens: tokens,
                           stepSeconds: Double(end - begin) / 1e9, elapsedSeconds: Double(end - startTime!) / 1e9)
    }

    /// Runs every step of the configuration, calling `onStep` after each.
    public func run(onStep: (StepMetrics) throws -> Void = { _ in }) throws {
        for s in 1...configuration.steps { try onStep(try step(s)) }
    }
}
