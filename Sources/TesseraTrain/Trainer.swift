import Foundation
import TesseraCollectives
import TesseraModels
import TesseraNN
import TesseraParallel
import TesseraPipeline
import TesseraTensor

/// One rank's training run: the step loop over ``TrainingData`` in ``BatchOrder``'s order, with the learning-rate
/// schedule, gradient accumulation over micro-batches and the engine's reductions, clipping and AdamW.
///
/// Every rank of the job builds one trainer with the same configuration and data and calls ``step(_:)`` (or
/// ``run(onStep:)``) in lockstep; each rank computes the same ``StepMetrics`` (the engine reduces the loss and
/// the gradient norm over the ranks), so any rank may report them. The CLI reports from world rank 0.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let engine: MeshEngine
    public let data: TrainingData
    public let layout: BatchLayout
    public let schedule: LearningRateSchedule
    /// This rank's position on the data-parallel axis (which slice of the global batch it reads).
    public let dataRank: Int
    private var startTime: UInt64?
    /// Meters the bytes each step moves per axis (the world the engine's groups were split from, wrapped in a
    /// ``MeteredCommunicator``); `nil`: no communication figures.
    public var meter: CommunicationMeter?
    /// The `cblas_sgemm` rate of all ranks together (FLOP/s, ``MatmulRate/measure(world:)``): the limit MFU
    /// is taken against; `nil`: no MFU.
    public var peakFlopsPerSecond: Double?
    /// Records every stage's spans for `--trace`; `nil`: no trace.
    public var recorder: PipelineTraceRecorder?
    private var meteredBytes: [MeshAxisBytes.Axis: Int] = [:]

    /// - Parameters:
    ///   - engine: this rank's engine, built for `configuration` (``makeEngine(configuration:config:world:computeThreads:)``).
    ///   - data: the tokenized text, checked against the model's vocabulary and the batch shape.
    /// - Throws: ``TrainingError/invalidOption(option:reason:)`` when the options contradict each other or the
    ///   model (a sequence longer than its context).
    public init(configuration: TrainingConfiguration, engine: MeshEngine, data: TrainingData) throws {
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
                                      microBatchSize: configuration.parallelism.microBatchSize, dataParallelSize: dataParallel)
        self.schedule = configuration.optimizer.learningRateSchedule(steps: configuration.steps)
        self.dataRank = engine.groups?.coordinate.dp ?? 0
    }

    /// Builds this rank's engine: freshly initialized from `config` and the configuration's seed, split over the
    /// layout's groups (built collectively from `world`; `nil` on one device), its kernels on `computeThreads`
    /// threads (the rank's share of the cores, as ``Launcher`` hands it over).
    /// - Throws: ``ParallelConfigError`` when the model or the world does not fit the layout (naming the valid
    ///   choices); ``CollectiveError``.
    public static func makeEngine(configuration: TrainingConfiguration, config: TransformerConfig,
                                  world: (any Communicator)?, computeThreads: Int = 1) throws -> MeshEngine {
        let groups = try processGroups(configuration.parallelism, world: world)
        return try MeshEngine(config: config, parallel: configuration.parallelism, groups: groups, seed: configuration.seed,
                              optimizer: configuration.optimizer.adamW, backend: CPUBackend(pool: ComputePool(threads: computeThreads)))
    }

    /// The process groups of a layout over `world` (`nil` without a world).
    /// - Throws: ``ParallelConfigError/rankCountMismatch(layout:required:ranks:suggestions:)`` when the layout
    ///   does not use exactly the world's ranks; ``CollectiveError``.
    public static func processGroups(_ parallelism: ParallelConfig, world: (any Communicator)?) throws -> ProcessGroups? {
        guard let world else { return nil }
        try parallelism.validate(ranks: world.size)
        return try ProcessGroups(world: world, mesh: parallelism.deviceMesh())
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

    /// Takes optimizer step `step` (from 1) and returns its figures: every rank computes the same ones (the
    /// per-rank memory and bytes are gathered over the world, a collective).
    /// - Throws: ``ModelError`` for invalid batches; ``CollectiveError`` when a peer fails.
    public func step(_ step: Int) throws -> StepMetrics {
        let begin = DispatchTime.now().uptimeNanoseconds
        if startTime == nil { startTime = begin }
        let learningRate = schedule.learningRate(atStep: step)
        let clip = configuration.optimizer.gradientClip.flatMap { $0 > 0 ? $0 : nil }
        let tokens = configuration.batch.globalBatchSize * configuration.data.sequenceLength
        let report = try engine.trainStep(try microBatches(step: step - 1), learningRate: learningRate,
                                          maxGradientNorm: clip, globalTokens: tokens, recorder: recorder, traceStep: step)
        let end = DispatchTime.now().uptimeNanoseconds
        var metrics = StepMetrics(step: step, loss: report.loss, learningRate: Double(shortest: learningRate),
                                  gradientNorm: Double(shortest: report.gradientNorm), tokens: tokens,
                                  stepSeconds: Double(end - begin) / 1e9, elapsedSeconds: Double(end - startTime!) / 1e9)
        let flops = Double(tokens) * engine.config.trainingFlopsPerToken(sequenceLength: configuration.data.sequenceLength)
        metrics.modelFlopsPerSecond = flops / max(metrics.stepSeconds, 1e-9)
        metrics.mfu = peakFlopsPerSecond.map { metrics.modelFlopsPerSecond! / $0 }
        metrics.reductionWaitSeconds = report.reductionWaitSeconds
        if let auxiliary = report.auxiliaryLoss {
            metrics.lmLoss = report.lmLoss
            metrics.auxLoss = auxiliary
            metrics.experts = report.expertLoad.sorted { $0.key < $1.key }.map { layer, load in
                ExpertLoad(layer: layer, tokensPerExpert: load.kept.map { Int($0) }, droppedFraction: load.droppedFraction)
            }
        }
        let bytes = meter.map { MeshAxisBytes.sinceLast($0, last: &meteredBytes) } ?? [:]
        let ranks = try RankFigures.gather(RankFigures(memory: engine.memory, bytes: bytes), world: engine.groups?.world)
        metrics.memory = ranks.map(\.memory)
        if meter != nil {
            metrics.communicationBytes = Dictionary(uniqueKeysWithValues: MeshAxisBytes.Axis.allCases.map { axis in
                (axis.rawValue, ranks.reduce(0) { $0 + ($1.bytes[axis] ?? 0) })
            })
        }
        return metrics
    }

    /// The next step to take (from 1): after the engine's steps, so a resumed run continues where it stopped.
    public var nextStep: Int { engine.step + 1 }

    /// Runs the configuration's remaining steps, calling `onStep` after each.
    public func run(onStep: (StepMetrics) throws -> Void = { _ in }) throws {
        for s in stride(from: nextStep, through: configuration.steps, by: 1) { try onStep(try step(s)) }
    }
}

extension Double {
    /// The Double whose shortest decimal form is `value`'s (so 1e-4 as a Float is written 0.0001, not 0.00010000000474974513).
    init(shortest value: Float) {
        self = Double("\(value)") ?? Double(value)
    }
}
