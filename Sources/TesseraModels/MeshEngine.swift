import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraPipeline
import TesseraTensor

/// What one optimizer step of a ``MeshEngine`` did.
public struct MeshStepReport: Sendable, Hashable {
    /// Mean cross-entropy over every target of the global batch.
    public var loss: Double
    /// Global gradient L2 norm before clipping.
    public var gradientNorm: Float
    public var learningRate: Float
    /// Targets in the global batch.
    public var tokens: Int
    /// This rank's pipeline figures (compute, waits, activations in flight).
    public var pipeline: PipelineStepReport
    /// Seconds the end of the backward pass waited for data-parallel reductions still in flight.
    public var reductionWaitSeconds: Double
}

/// Per-rank memory of a ``MeshEngine``.
public struct MeshMemoryReport: Sendable, Hashable, Codable {
    /// Parameter values on this rank.
    public var parameterBytes: Int
    /// Gradients on this rank (and the ZeRO-1 reduction buffers).
    public var gradientBytes: Int
    /// AdamW moments on this rank.
    public var optimizerBytes: Int
    /// The most activation bytes held at once in the last step (micro-batch states in flight plus the
    /// recomputation scratch).
    public var activationBytes: Int
}

/// The training engine of one rank of a dp × pp × tp mesh: its stage's chunks of the model (tp-sharded,
/// with sequence parallelism and recomputation as configured), the pipeline executor that runs the
/// schedule, the bucketed data-parallel reducer and the (ZeRO-0 or ZeRO-1) optimizer.
///
/// Every rank of the job builds one with the same configuration and calls ``trainStep(_:learningRate:maxGradientNorm:globalTokens:)``
/// in lockstep with its data-parallel rank's micro-batches (every stage and tp rank of a pipeline gets the
/// same ones). Initial values depend only on the seed, the parameter name and the element index, so every
/// layout starts from the single-device model.
public final class MeshEngine: @unchecked Sendable {
    public let config: TransformerConfig
    public let parallel: ParallelConfig
    /// The rank's groups, or `nil` on one device.
    public let groups: ProcessGroups?
    /// Which layers each model chunk holds.
    public let partition: StagePartition
    /// This rank's part of the model: its stage's chunks.
    public let model: Transformer
    public let reducer: DataParallelReducer
    public let optimizer: DistributedOptimizer
    private let work: TransformerStageWork
    private var executors: [Int: PipelineExecutor] = [:]
    private var lastActivationBytes = 0
    /// Steps taken.
    public private(set) var step = 0

    /// Builds this rank's part of the model (initialized from `seed`), its executor, reducer and optimizer.
    /// - Parameters:
    ///   - groups: the rank's process groups over a mesh equal to `parallel`'s (`nil`: one device).
    ///   - mappings: the conjugate mappings (tests replace one to show the equivalence tests can fail).
    ///   - synchronization: the gradient reductions (tests leave one out for the same reason).
    /// - Throws: ``ParallelConfigError`` when the layout does not fit the model or the groups;
    ///   ``ModelError`` for an invalid model.
    public init(config: TransformerConfig, parallel: ParallelConfig, groups: ProcessGroups?, seed: UInt64,
                optimizer: AdamWConfiguration = AdamWConfiguration(), mappings: MappingTable = .megatron,
                synchronization: GradientSynchronization = .all) throws {
        try parallel.validate(model: config)
        if let groups {
            try parallel.validate(ranks: groups.world.size)
            let mesh = try parallel.deviceMesh()
            guard groups.mesh == mesh else {
                throw ParallelConfigError.invalidOption(option: "process groups", value: groups.mesh.description,
                                                        valid: "groups built over the layout's mesh \(mesh)")
            }
        } else {
            try parallel.validate(ranks: 1)
        }
        let stage = groups?.coordinate.pp ?? 0
        let layer = config.layerForwardFlops(sequenceLength: config.contextLength)
        partition = try parallel.partition(layers: config.layers, headCost: config.headForwardFlops / layer)
        let tp = TensorParallelism(group: groups?.tensor, sequenceParallel: parallel.sequenceParallel, mappings: mappings)
        let partition = self.partition
        let model = try Transformer(config: config, tp: tp, seed: seed,
                                    chunkLayers: (0..<parallel.pipeline.virtualStages).map { partition.layers(rank: stage, chunk: $0) })
        for chunk in model.chunks { chunk.recomputation = parallel.memory.recompute }
        // With pp > 1 a tied embedding lives on the first and the last stage; its gradient is summed there first.
        let tied = parallel.pp > 1 && config.tiedEmbeddings
        let parameters = model.store.parameters
        let deferred = tied ? Set(parameters.indices.filter { parameters[$0].name == config.tokenEmbeddingName }) : []
        let reducer = DataParallelReducer(store: model.store, group: groups?.data, tp: tp, embedding: tied ? groups?.embedding : nil,
                                          deferred: deferred, zeroStage: parallel.memory.zeroStage,
                                          bucketElements: parallel.memory.bucketElements, synchronization: synchronization)
        self.optimizer = DistributedOptimizer(store: model.store, configuration: optimizer, reducer: reducer,
                                              normGroup: parallel.memory.zeroStage == 1 ? groups?.world : groups?.modelParallel)
        work = TransformerStageWork(model: model, reducer: reducer)
        self.model = model
        self.reducer = reducer
        self.config = config
        self.parallel = parallel
        self.groups = groups
    }

    /// This rank's pipeline stage.
    public var stage: Int { groups?.coordinate.pp ?? 0 }

    /// One optimizer step over `microBatches`, this data-parallel rank's share of the global batch in
    /// micro-batch order (all with targets, the same on every stage and tp rank of the pipeline).
    ///
    /// Every token's loss is scaled by `1 / globalTokens`; the schedule runs the micro-batches through the
    /// pipeline with gradient accumulation; data-parallel buckets are reduced as their gradients become
    /// final; then the global norm, clipping and AdamW (on the owned slices under ZeRO 1).
    /// - Parameter globalTokens: targets in the global batch (all data-parallel ranks).
    /// - Throws: ``ModelError`` for invalid batches, ``ParallelConfigError`` when the schedule cannot run
    ///   this many micro-batches, ``CollectiveError`` when a peer fails.
    public func trainStep(_ microBatches: [MicroBatch], learningRate: Float, maxGradientNorm: Float?,
                          globalTokens: Int) throws -> MeshStepReport {
        guard !microBatches.isEmpty, globalTokens > 0 else {
            throw ModelError.invalidBatch(reason: "a step needs at least one micro-batch and one target")
        }
        for microBatch in microBatches {
            guard microBatch.targets != nil else { throw ModelError.invalidBatch(reason: "training needs targets") }
            try microBatch.validate(for: config, tp: model.tp.size, sequenceParallel: model.tp.sequenceParallel)
        }
        let executor = try self.executor(microBatches: microBatches.count)
        model.store.zeroGradients()
        reducer.beginStep()
        work.begin(microBatches, lossScale: 1 / Float(globalTokens))
        let pipeline = try executor.run(work)
        try reducer.finish()
        let norm = try optimizer.step(learningRate: learningRate, maxGradientNorm: maxGradientNorm)
        // The last stage's tp rank 0 of each data-parallel rank holds that rank's loss sum.
        let holdsLoss = model.chunks.last!.isLast && model.tp.rank == 0
        let lossSum = try groups?.world.sumInRankOrder(holdsLoss ? work.lossSum : 0) ?? work.lossSum
        lastActivationBytes = pipeline.peakActivationBytes + model.chunks.reduce(0) { $0 + $1.recomputationBytes }
        step += 1
        return MeshStepReport(loss: lossSum / Double(globalTokens), gradientNorm: norm, learningRate: learningRate,
                              tokens: globalTokens, pipeline: pipeline, reductionWaitSeconds: reducer.exposedSeconds)
    }

    /// Per-rank memory after the last step.
    public var memory: MeshMemoryReport {
        MeshMemoryReport(parameterBytes: model.parameterBytes, gradientBytes: model.store.gradients.byteCount + reducer.bufferBytes,
                         optimizerBytes: optimizer.optimizerBytes, activationBytes: lastActivationBytes)
    }

    /// (micro-batch, chunk) states this rank allocated so far, per local chunk: the most it ever held.
    public var allocatedStates: [Int] { work.allocatedStates }

    /// The executor for `microBatches` micro-batches per step (the schedule depends on the count).
    private func executor(microBatches: Int) throws -> PipelineExecutor {
        if let executor = executors[microBatches] { return executor }
        let executor = try PipelineExecutor(schedule: parallel.schedule(microBatches: microBatches), stage: stage,
                                            group: parallel.pp > 1 ? groups?.pipeline : nil)
        executors[microBatches] = executor
        return executor
    }
}

extension ParallelConfig {
    /// Checks that `model` splits over this layout: its heads, key/value heads and MLP over tp, its layers
    /// over the pipeline's model chunks.
    /// - Throws: ``ParallelConfigError/tensorParallel(what:count:tp:valid:)`` naming the valid tp values, or
    ///   the errors of ``validate(layers:)``.
    public func validate(model: TransformerConfig) throws {
        do {
            try model.validate(tp: tp)
        } catch let ModelError.indivisibleByTensorParallel(what, count, tp, valid) {
            throw ParallelConfigError.tensorParallel(what: what, count: count, tp: tp, valid: valid)
        }
        try validate(layers: model.layers)
    }
}
