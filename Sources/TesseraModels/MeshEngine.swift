import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraPipeline
import TesseraTensor

/// What one optimizer step of a ``MeshEngine`` did.
public struct MeshStepReport: Sendable, Hashable {
    /// The objective: mean cross-entropy over every target of the global batch, plus the router losses of a
    /// mixture of experts (each micro-batch's weighted by its share of the targets).
    public var loss: Double
    /// Mean cross-entropy over every target of the global batch.
    public var lmLoss: Double
    /// The load-balancing loss (token-weighted mean over micro-batches) of a mixture of experts, whether or not the
    /// objective includes it; `nil` for dense models.
    public var auxiliaryLoss: Double?
    /// Router statistics of this rank's mixture-of-experts layers (by global layer), summed over the step's micro-batches.
    public var expertLoad: [Int: RouterStatistics]
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

/// The one engine of Tessera: what one rank of a dp × pp × tp mesh runs for training, evaluation and
/// generation. It holds its stage's chunks of the model (tp-sharded, with sequence parallelism and
/// recomputation as configured), the pipeline executor that runs the schedule, the bucketed data-parallel
/// reducer and the (ZeRO-0 or ZeRO-1) optimizer; evaluation and decoding pass hidden states through the
/// stages (MeshEngine+Inference.swift).
///
/// Every rank of the job builds one with the same configuration and calls ``trainStep(_:learningRate:maxGradientNorm:globalTokens:recorder:traceStep:)``
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
    /// One forward state per local chunk for evaluation and generation (apart from the training states).
    private var inferenceStates: [ChunkState] = []
    private var lastActivationBytes = 0
    /// Steps taken (restored from a checkpoint by ``restoreState(step:fill:)``).
    public internal(set) var step = 0
    /// Reads of the parameter values and AdamW moments still running beside the training thread (an asynchronous
    /// checkpoint's snapshot): the next optimizer update waits for it (MeshEngine+Checkpoint.swift).
    public var pendingStateRead: StateReadFence?
    /// Seconds optimizer updates have waited for ``pendingStateRead``.
    public internal(set) var stateReadWaitSeconds = 0.0

    /// Builds this rank's part of the model (initialized from `seed`), its executor, reducer and optimizer.
    /// - Parameters:
    ///   - seed: initial values depend only on `(seed, name, global index)`; `nil` leaves zeros for a
    ///     checkpoint to fill (``Transformer/load(from:)``).
    ///   - groups: the rank's process groups over a mesh equal to `parallel`'s (`nil`: one device).
    ///   - mappings: the conjugate mappings (tests replace one to show the equivalence tests can fail).
    ///   - synchronization: the gradient reductions (tests leave one out for the same reason).
    ///   - contextFaults: context-parallel mistakes (tests make one for the same reason).
    ///   - backend: where this rank's kernels run (the CPU backend: as many threads as its OpenBLAS threads, its share of the cores); every kernel
    ///     outside `cblas_sgemm`, clipping and the AdamW update run on it. Results do not depend on its size.
    ///   - storedWeights: for an inference engine, the matrix weights kept in their stored type (see
    ///     ``Transformer/init(config:context:seed:chunkLayers:storedWeights:)``); such an engine refuses to train.
    /// - Throws: ``ParallelConfigError`` when the layout does not fit the model or the groups;
    ///   ``ModelError`` for an invalid model; ``ExpertError`` for experts that do not split over the layout.
    public init(config: TransformerConfig, parallel: ParallelConfig, groups: ProcessGroups?, seed: UInt64?,
                optimizer: AdamWConfiguration = AdamWConfiguration(), mappings: MappingTable = .megatron,
                synchronization: GradientSynchronization = .all, backend: any ComputeBackend = CPUBackend.serial,
                contextFaults: ContextParallelFaults = [], storedWeights: (any StoredWeightSource)? = nil) throws {
        try parallel.validate(model: config)
        try Self.checkMixtureOfExperts(config, parallel)
        guard parallel.ep == 1 || config.moe != nil else {
            throw ParallelConfigError.invalidOption(option: "ep", value: "\(parallel.ep)", valid: "1: expert parallelism needs a mixture-of-experts model")
        }
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
        var context = LayerContext(groups: groups, sequenceParallel: parallel.sequenceParallel, mappings: mappings, backend: backend)
        // Without `.routerStatistics` (tests only): router losses of the rank's own tokens.
        if !synchronization.contains(.routerStatistics) { context.routerStatisticsGroups = [] }
        if !synchronization.contains(.routerCapacity) { context.capacityGroups = [] }
        context.contextCommunication = parallel.contextCommunication
        context.expertTensorParallelism = parallel.expertTensorParallelism
        context.contextFaults = contextFaults
        let partition = self.partition
        let model = try Transformer(config: config, context: context, seed: seed,
                                    chunkLayers: (0..<parallel.pipeline.virtualStages).map { partition.layers(rank: stage, chunk: $0) },
                                    storedWeights: storedWeights)
        for chunk in model.chunks { chunk.recomputation = parallel.memory.recompute }
        // With pp > 1 a tied embedding lives on the first and the last stage; its gradient is summed there first.
        let tied = parallel.pp > 1 && config.tiedEmbeddings
        let parameters = model.store.parameters
        let deferred = tied ? Set(parameters.indices.filter { parameters[$0].name == config.tokenEmbeddingName }) : []
        // Dense gradients are summed over dp × cp: the cp ranks of a replica saw different tokens of the same sequences.
        let reducer = DataParallelReducer(store: model.store, group: groups?.dataContext, context: context, embedding: tied ? groups?.embedding : nil,
                                          deferred: deferred, zeroStage: parallel.memory.zeroStage,
                                          bucketElements: parallel.memory.bucketElements, synchronization: synchronization)
        self.optimizer = DistributedOptimizer(store: model.store, configuration: optimizer, reducer: reducer,
                                              normGroup: parallel.memory.zeroStage == 1 ? groups?.world : groups?.modelParallel,
                                              expertGroup: parallel.ep > 1 ? groups?.expert : nil, backend: backend)
        let routerLosses = config.moe.map { $0.router.auxiliaryWeight > 0 || $0.router.zLossCoefficient > 0 } ?? false
        work = TransformerStageWork(model: model, reducer: reducer,
                                    carriesRouterStatistics: routerLosses && parallel.pp > 1 && synchronization.contains(.routerStatistics))
        self.model = model
        self.reducer = reducer
        self.config = config
        self.parallel = parallel
        self.groups = groups
    }

    /// An engine whose layout is the mesh of `groups` (one device without groups) with the default schedule and
    /// memory options: the short form for evaluation, generation and tests.
    /// - Throws: as ``init(config:parallel:groups:seed:optimizer:mappings:synchronization:backend:contextFaults:storedWeights:)``.
    public convenience init(config: TransformerConfig, groups: ProcessGroups? = nil, seed: UInt64?, sequenceParallel: Bool = false,
                            optimizer: AdamWConfiguration = AdamWConfiguration(), mappings: MappingTable = .megatron,
                            backend: any ComputeBackend = CPUBackend.serial) throws {
        try self.init(config: config, parallel: ParallelConfig(mesh: groups?.mesh, sequenceParallel: sequenceParallel), groups: groups,
                      seed: seed, optimizer: optimizer, mappings: mappings, backend: backend)
    }

    /// Throws unless every weight is a Float32 parameter: `operation` needs gradients or full tensors.
    /// - Throws: ``ModelError/invalidConfiguration(field:reason:)``.
    func requireFloat32Weights(_ operation: String) throws {
        guard model.storedWeights.isEmpty else {
            throw ModelError.invalidConfiguration(
                field: "weights", reason: "\(operation) needs Float32 weights, but this engine keeps \(model.storedWeights.count) in their stored type; load with WeightFormat.float32")
        }
    }

    /// This rank's pipeline stage.
    public var stage: Int { groups?.coordinate.pp ?? 0 }

    /// Refuses split experts whose features do not divide by tp.
    private static func checkMixtureOfExperts(_ config: TransformerConfig, _ parallel: ParallelConfig) throws {
        guard let moe = config.moe, parallel.expertTensorParallelism == .split, parallel.tp > 1,
              moe.expertIntermediateSize % parallel.tp != 0 else { return }
        throw ExpertError.intermediateNotDivisible(intermediate: moe.expertIntermediateSize, tp: parallel.tp)
    }

    /// One optimizer step over `microBatches`, this data-parallel rank's share of the global batch in
    /// micro-batch order (all with targets, the same on every stage and tp rank of the pipeline).
    ///
    /// Every token's loss is scaled by `1 / globalTokens`; the schedule runs the micro-batches through the
    /// pipeline with gradient accumulation; data-parallel buckets are reduced as their gradients become
    /// final; then the global norm, clipping and AdamW (on the owned slices under ZeRO 1).
    /// - Parameters:
    ///   - globalTokens: targets in the global batch (all data-parallel ranks); `nil` counts them (one all-reduce
    ///     over dp).
    ///   - recorder: records this stage's actions, the wait for data-parallel reductions and the optimizer step
    ///     as spans tagged with `traceStep`; only the first tensor-, context- and data-parallel replica of each stage
    ///     records, so each row of the picture is one stage.
    /// - Throws: ``ModelError`` for invalid batches, ``ParallelConfigError`` when the schedule cannot run
    ///   this many micro-batches, ``CollectiveError`` when a peer fails.
    public func trainStep(_ microBatches: [MicroBatch], learningRate: Float, maxGradientNorm: Float?,
                          globalTokens: Int? = nil, recorder: PipelineTraceRecorder? = nil, traceStep: Int? = nil) throws -> MeshStepReport {
        let coordinate = groups?.coordinate ?? MeshCoordinate()
        let recorder = coordinate.tp == 0 && coordinate.dp == 0 && coordinate.cp == 0 ? recorder : nil
        let pass = try accumulateGradients(microBatches, globalTokens: globalTokens, recorder: recorder, traceStep: traceStep)
        let norm = try record(.other, "optimizer", recorder, traceStep) {
            waitForPendingStateRead()
            return try optimizer.step(learningRate: learningRate, maxGradientNorm: maxGradientNorm)
        }
        step += 1
        return MeshStepReport(loss: pass.loss, lmLoss: pass.lmLoss, auxiliaryLoss: pass.auxiliaryLoss, expertLoad: work.expertLoad,
                              gradientNorm: norm, learningRate: learningRate, tokens: pass.tokens,
                              pipeline: pass.pipeline, reductionWaitSeconds: reducer.exposedSeconds)
    }

    /// The gradients of one step without the optimizer update: ``trainStep(_:learningRate:maxGradientNorm:globalTokens:recorder:traceStep:)``
    /// up to and including the gradient reductions. Returns the mean loss; the reduced gradients stay in
    /// ``Transformer/store`` (``Transformer/fullGradients()`` gathers them).
    public func computeGradients(_ microBatches: [MicroBatch], globalTokens: Int? = nil) throws -> Double {
        try accumulateGradients(microBatches, globalTokens: globalTokens, recorder: nil, traceStep: nil).loss
    }

    /// Runs the schedule over `microBatches` with gradient accumulation and the data-parallel reductions.
    private func accumulateGradients(_ microBatches: [MicroBatch], globalTokens: Int?, recorder: PipelineTraceRecorder?,
                                     traceStep: Int?) throws -> (loss: Double, lmLoss: Double, auxiliaryLoss: Double?, tokens: Int,
                                                                 pipeline: PipelineStepReport) {
        try requireFloat32Weights("training")
        let localTokens = microBatches.reduce(0) { $0 + $1.tokenCount }
        let globalTokens = try globalTokens ?? Int(groups?.data.sumInRankOrder(Double(localTokens)) ?? Double(localTokens))
        guard !microBatches.isEmpty, globalTokens > 0 else {
            throw ModelError.invalidBatch(reason: "a step needs at least one micro-batch and one target")
        }
        let microBatches = try microBatches.map { microBatch in
            guard microBatch.targets != nil else { throw ModelError.invalidBatch(reason: "training needs targets") }
            return try localShare(of: microBatch)
        }
        let executor = try self.executor(microBatches: microBatches.count)
        model.store.zeroGradients()
        reducer.beginStep()
        work.begin(microBatches, lossScale: 1 / Float(globalTokens))
        let pipeline = try executor.run(work, recorder: recorder, step: traceStep)
        try record(.communication, "dp reduce", recorder, traceStep) { try reducer.finish() }
        // The last stage's tp rank 0 of each data-parallel rank holds that rank's loss sum.
        let holdsLoss = model.chunks.last!.isLast && model.context.tp.rank == 0
        // One collective for every sum (each is a separate meeting of every rank).
        let local = config.moe == nil ? [work.lossSum] : [work.lossSum, work.routerLossSum, work.balanceSum]
        let sums = try groups?.world.sumsInRankOrder(local.map { holdsLoss ? $0 : 0 }) ?? local
        let lossSum = sums[0], global = Double(globalTokens)
        lastActivationBytes = pipeline.peakActivationBytes + model.chunks.reduce(0) { $0 + $1.recomputationBytes }
        guard config.moe != nil else { return (lossSum / global, lossSum / global, nil, globalTokens, pipeline) }
        let routerSum = sums[1], balanceSum = sums[2]
        return ((lossSum + routerSum) / global, lossSum / global, balanceSum / global, globalTokens, pipeline)
    }

    /// Runs `body` inside a span of this stage's trace (when recording).
    private func record<T>(_ kind: PipelineSpanKind, _ name: String, _ recorder: PipelineTraceRecorder?, _ traceStep: Int?,
                           _ body: () throws -> T) rethrows -> T {
        let span = recorder?.begin(kind, rank: stage, name: name, step: traceStep)
        defer { if let span { recorder?.end(span) } }
        return try body()
    }

    /// Per-rank memory after the last step; activations are the most bytes held at once (the micro-batch
    /// states in flight and the recomputation scratch).
    public var memory: MemoryReport {
        MemoryReport(parameterBytes: model.parameterBytes, gradientBytes: model.store.gradients.byteCount + reducer.bufferBytes,
                         optimizerBytes: optimizer.optimizerBytes, activationBytes: lastActivationBytes)
    }

    /// Every parameter of the model as its full Hugging Face tensor, on every rank: gathered over tp, then
    /// over the pipeline stages (each stage broadcasts its tensors in turn), in single-device order; a tied
    /// embedding comes from the first stage. Every rank must call it.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func fullParameters() throws -> [(name: String, tensor: Tensor)] {
        try requireFloat32Weights("gathering the parameters")
        let local = try gatheringExperts(model.fullParameters())
        guard let pipeline = groups?.pipeline, pipeline.size > 1 else { return local }
        var gathered: [String: Tensor] = [:]
        for root in 0..<pipeline.size {
            let ranges = (0..<parallel.pipeline.virtualStages).map { partition.layers(rank: root, chunk: $0) }
            let specs = Transformer.parameterSpecs(config: config, context: .single, chunkLayers: ranges)
            var flat = root == stage ? local.flatMap(\.tensor.scalars) : [Float](repeating: 0, count: specs.reduce(0) { $0 + $1.localCount })
            try flat.withUnsafeMutableBufferPointer { try pipeline.broadcast($0, root: root) }
            var offset = 0
            for spec in specs {
                defer { offset += spec.localCount }
                guard gathered[spec.name] == nil else { continue }
                gathered[spec.name] = try Tensor(shape: spec.globalShape, scalars: Array(flat[offset..<offset + spec.localCount]))
            }
        }
        return config.parameterSpecs(context: .single).map { ($0.name, gathered[$0.name]!) }
    }

    /// An engine for evaluation and generation on the same layout: this one, or (with sequence parallelism, which
    /// incremental decoding runs without) an engine over the same groups holding a copy of this rank's values.
    /// - Throws: ``ModelError`` or ``ParallelConfigError`` as the initializer does.
    public func inferenceEngine() throws -> MeshEngine {
        guard parallel.sequenceParallel else { return self }
        var layout = parallel
        layout.sequenceParallel = false
        let engine = try MeshEngine(config: config, parallel: layout, groups: groups, seed: nil, backend: model.context.backend,
                                    storedWeights: model.storedWeights.isEmpty ? nil : StoredMatrices(model.storedWeights))
        model.context.backend.copy(model.store.values.pointer, into: engine.model.store.values.pointer, count: model.store.count)
        return engine
    }

    /// Writes one full Hugging Face checkpoint whatever the layout (every rank calls it; the first writes).
    /// - Throws: ``CollectiveError`` when a peer fails; format errors when the directory cannot be written.
    public func save(toDirectory directory: String) throws {
        try config.writeHuggingFaceCheckpoint(fullParameters(), toDirectory: directory, world: groups?.world)
    }

    /// This rank's memory for a step of `microBatches` micro-batches of `batch × length` tokens, known before
    /// the first step: parameters, gradients and optimizer state as allocated, activations as the most the
    /// schedule keeps in flight at once on this stage (each (micro-batch, chunk) state as
    /// ``TransformerConfig/savedActivationBytes(batch:length:tp:rank:sequenceParallel:layers:targets:recompute:)``
    /// predicts) plus the recomputation scratch: equal to ``memory`` after such a step.
    /// - Throws: ``ParallelConfigError`` when the schedule cannot run `microBatches`.
    public func memory(forMicroBatchOf batch: Int, length: Int, microBatches: Int) throws -> MemoryReport {
        let context = model.context, recompute = parallel.memory.recompute, wholeLength = length, length = try localLength(of: length)
        let bytes = try model.chunks.map {
            try config.savedActivationBytes(batch: batch, length: length, tp: context.tp.size, rank: context.tp.rank, sequenceParallel: context.sequenceParallel,
                                            layers: $0.layers, recompute: recompute)
                + ulyssesExtraBytes(batch: batch, length: wholeLength, blocks: $0.layers.count, scratch: false)
        }
        var live = 0, peak = 0
        for action in try parallel.schedule(microBatches: microBatches).actions[stage] {
            guard let (kind, _, chunk) = action.compute else { continue }
            switch kind {
            case .forward: live += bytes[chunk]
            case .backward, .backwardWeight: live -= bytes[chunk]
            case .backwardInput: break
            }
            peak = max(peak, live)
        }
        var report = memory
        report.activationBytes = try peak + model.chunks.reduce(0) {
            try $0 + config.recomputationScratchBytes(batch: batch, length: length, tp: context.tp.size, rank: context.tp.rank,
                                                      sequenceParallel: context.sequenceParallel, blocks: $1.blocks.count, recompute: recompute)
                + ulyssesExtraBytes(batch: batch, length: wholeLength, blocks: $1.blocks.count, scratch: true)
        }
        return report
    }

    /// The evaluation/generation state of local chunk `local`, made on first use.
    func inferenceState(_ local: Int) -> ChunkState {
        if inferenceStates.isEmpty { inferenceStates = model.chunks.map { $0.makeState() } }
        return inferenceStates[local]
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
    /// Checks that `model` splits over this layout: every tp rank holds a query head, its layers fill the
    /// pipeline's model chunks.
    /// - Throws: ``ParallelConfigError/tensorParallelTooLarge(what:count:tp:)`` naming the valid tp values, or
    ///   the errors of ``validate(layers:)``.
    public func validate(model: TransformerConfig) throws {
        do {
            try model.validate(tp: tp)
        } catch let ModelError.tensorParallelTooLarge(what, count, tp) {
            throw ParallelConfigError.tensorParallelTooLarge(what: what, count: count, tp: tp)
        }
        try validate(layers: model.layers)
        try validateContextParallel(model: model)
    }
}
