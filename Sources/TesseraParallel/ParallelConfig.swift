import TesseraCollectives
import TesseraPipeline

/// Which activations a layer keeps for the backward pass and which it recomputes there.
public enum Recomputation: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Keep every activation the backward pass reads.
    case none
    /// Recompute the attention core (softmax(QKᵀ)·V and its row statistics) from the kept q, k, v, the part
    /// Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models", §4.2) single
    /// out as cheap to recompute and large to keep.
    case selective
    /// Keep only each layer's input and re-run the whole layer's forward pass inside its backward pass.
    case full

    public var description: String { rawValue }
}

/// How one training job is split over ranks: the mesh axes, the pipeline schedule, the micro-batch size
/// and the memory options. A value of this type is always self-consistent (its initializer and decoder
/// validate it); ``validate(ranks:)``, ``validate(layers:)`` and ``validate(globalBatchSize:sequenceLength:)``
/// check it against the job, the model and the batch.
///
/// Ranks are laid out as ``DeviceMesh`` does: tp fastest, then cp, then dp (with ep carved out of dp × cp), then pp;
/// ``rankLayout`` is that order as a pure function.
public struct ParallelConfig: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The pipeline schedule and how layers are placed on stages.
    public struct Pipeline: Sendable, Hashable, Codable {
        public var schedule: PipelineScheduleKind
        /// Model chunks per stage (`v`; more than 1 only for the interleaved schedule).
        public var virtualStages: Int
        /// Layers per model chunk in model order (`[5, 6, 6, 5]`); `nil` balances them.
        public var layout: [Int]?

        public init(schedule: PipelineScheduleKind = .oneForwardOneBackward, virtualStages: Int = 1, layout: [Int]? = nil) {
            self.schedule = schedule
            self.virtualStages = virtualStages
            self.layout = layout
        }
    }

    /// What is kept in memory and where.
    public struct Memory: Sendable, Hashable, Codable {
        public var recompute: Recomputation
        /// ZeRO stage: 0 keeps the whole optimizer state on every data-parallel rank; 1 shards the AdamW
        /// moments (and the update) over dp (Rajbhandari et al. 2020, "ZeRO", §5.1: P_os); 2 and 3 also shard the
        /// gradients and the weights, which the planner costs for other software and Tessera's engine does not run
        /// (``validate()`` refuses them).
        public var zeroStage: Int
        /// Gradient elements per data-parallel bucket (each bucket's reduction starts as soon as its
        /// gradients are final).
        public var bucketElements: Int

        public init(recompute: Recomputation = .none, zeroStage: Int = 0, bucketElements: Int = 1 << 20) {
            self.recompute = recompute
            self.zeroStage = zeroStage
            self.bucketElements = bucketElements
        }
    }

    /// Data-parallel replicas.
    public var dp: Int
    /// Pipeline stages.
    public var pp: Int
    /// Tensor-parallel ranks.
    public var tp: Int
    /// Context-parallel ranks: each holds a share of every sequence's tokens.
    public var cp: Int
    /// Expert-parallel ranks, carved out of dp × cp (they add no ranks): each holds `1/ep` of every
    /// mixture-of-experts layer's experts.
    public var ep: Int
    /// Whether a mixture of experts' experts are whole on every tp rank or split over tp (`--expert-tp 1|tp`).
    public var expertTensorParallelism: ExpertTensorParallelism = .whole
    /// How context-parallel attention reaches the other cp ranks' keys and values (used when cp > 1).
    public var contextCommunication: ContextCommunication = .ring
    /// Megatron sequence parallelism inside the tensor-parallel group.
    public var sequenceParallel: Bool
    /// Sequences per forward/backward pass (`b`).
    public var microBatchSize: Int
    public var pipeline: Pipeline
    public var memory: Memory

    /// - Throws: ``ParallelConfigError`` for an axis below 1, virtual stages outside the interleaved
    ///   schedule, an interleaved schedule on one stage, a ZeRO stage other than 0 or 1, sequence
    ///   parallelism without tp, recomputation with a split backward, or a layout with the wrong number of
    ///   entries.
    public init(dp: Int = 1, pp: Int = 1, tp: Int = 1, cp: Int = 1, ep: Int = 1, sequenceParallel: Bool = false,
                microBatchSize: Int = 1, pipeline: Pipeline = Pipeline(), memory: Memory = Memory()) throws {
        self.dp = dp
        self.pp = pp
        self.tp = tp
        self.cp = cp
        self.ep = ep
        self.sequenceParallel = sequenceParallel
        self.microBatchSize = microBatchSize
        self.pipeline = pipeline
        self.memory = memory
        try validate()
    }

    /// The layout of `mesh` (one device for `nil`) with the default schedule, micro-batch size and memory options.
    /// - Throws: ``ParallelConfigError`` as the memberwise initializer does (sequence parallelism without tp).
    public init(mesh: DeviceMesh?, sequenceParallel: Bool = false) throws {
        try self.init(dp: mesh?.dp ?? 1, pp: mesh?.pp ?? 1, tp: mesh?.tp ?? 1, cp: mesh?.cp ?? 1, ep: mesh?.ep ?? 1,
                      sequenceParallel: sequenceParallel)
    }

    /// One device: every axis 1, micro-batches of one sequence, 1F1B, no recomputation, ZeRO 0.
    public static let singleDevice = ParallelConfig(unchecked: ())

    private init(unchecked: Void) {
        (dp, pp, tp, cp, ep, sequenceParallel, microBatchSize, pipeline, memory) = (1, 1, 1, 1, 1, false, 1, Pipeline(), Memory())
    }

    private enum CodingKeys: String, CodingKey {
        case dp, pp, tp, cp, ep, expertTensorParallelism, contextCommunication, sequenceParallel, microBatchSize, pipeline, memory
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(dp: c.decodeIfPresent(Int.self, forKey: .dp) ?? 1, pp: c.decodeIfPresent(Int.self, forKey: .pp) ?? 1,
                      tp: c.decodeIfPresent(Int.self, forKey: .tp) ?? 1, cp: c.decodeIfPresent(Int.self, forKey: .cp) ?? 1,
                      ep: c.decodeIfPresent(Int.self, forKey: .ep) ?? 1,
                      sequenceParallel: c.decodeIfPresent(Bool.self, forKey: .sequenceParallel) ?? false,
                      microBatchSize: c.decodeIfPresent(Int.self, forKey: .microBatchSize) ?? 1,
                      pipeline: c.decodeIfPresent(Pipeline.self, forKey: .pipeline) ?? Pipeline(),
                      memory: c.decodeIfPresent(Memory.self, forKey: .memory) ?? Memory())
        contextCommunication = try c.decodeIfPresent(ContextCommunication.self, forKey: .contextCommunication) ?? .ring
        expertTensorParallelism = try c.decodeIfPresent(ExpertTensorParallelism.self, forKey: .expertTensorParallelism) ?? .whole
    }

    /// Ranks the layout uses: `dp · cp · pp · tp` (ep is carved out of dp × cp).
    public var ranks: Int { dp * cp * pp * tp }

    /// Model chunks over all stages: `pp · virtualStages`.
    public var modelChunks: Int { pp * pipeline.virtualStages }

    /// The device mesh of this layout (tp fastest, then cp, dp, pp; ep inside dp × cp).
    public func deviceMesh() throws -> DeviceMesh { try DeviceMesh(tp: tp, cp: cp, dp: dp, pp: pp, ep: ep) }

    /// The mesh coordinates of every rank of this layout, in rank order: the rank order as a pure function
    /// (`rank = tp + TP·(cp + CP·(dp + DP·pp))`; ep is `(cp + CP·dp) mod ep`). Nothing communicates.
    public var rankLayout: [RankPosition] {
        // A validated layout always makes a mesh (its axes are positive and ep divides dp × cp).
        guard let mesh = try? deviceMesh() else { preconditionFailure("invalid layout \(self)") }
        return (0..<ranks).map { rank in
            let c = mesh.coordinate(of: rank)
            return RankPosition(rank: rank, tp: c.tp, cp: c.cp, dp: c.dp, pp: c.pp, ep: mesh.expertRank(of: rank),
                                expertData: mesh.expertDataRank(of: rank))
        }
    }

    /// The layout's axes as text (`dp=2 pp=1 tp=2`, with `cp`/`ep` where above 1).
    var axesDescription: String {
        "dp=\(dp) pp=\(pp) tp=\(tp)" + (cp > 1 ? " cp=\(cp)" : "") + (ep > 1 ? " ep=\(ep)" : "")
    }

    public var description: String {
        var text = axesDescription
        if sequenceParallel { text += " sp" }
        if expertTensorParallelism == .split { text += " expert-tp=tp" }
        if cp > 1 { text += " cp-comm=\(contextCommunication)" }
        if pp > 1 {
            text += " \(pipeline.schedule.rawValue)"
            if pipeline.virtualStages > 1 { text += " v=\(pipeline.virtualStages)" }
        }
        text += " b=\(microBatchSize)"
        if memory.recompute != .none { text += " recompute=\(memory.recompute)" }
        if memory.zeroStage > 0 { text += " zero=\(memory.zeroStage)" }
        return text
    }

    /// Micro-batches each pipeline runs per step: `globalBatchSize / (dp · microBatchSize)`.
    public func microBatches(globalBatchSize: Int) -> Int { globalBatchSize / (dp * microBatchSize) }

    /// - Throws: ``ParallelConfigError/rankCountMismatch(layout:ranks:suggestions:)`` unless
    ///   `dp · cp · pp · tp == ranks`, with layouts of `ranks` ranks that keep as much of this one as possible.
    public func validate(ranks: Int) throws {
        guard self.ranks == ranks else {
            throw ParallelConfigError.rankCountMismatch(layout: axesDescription, required: self.ranks, ranks: ranks,
                                                        suggestions: Self.layouts(ranks: ranks, near: self))
        }
    }

    /// Checks the layout against the model's depth.
    /// - Throws: ``ParallelConfigError/layersDoNotSplit(layers:pp:virtualStages:validStages:)`` when the
    ///   layers cannot give each of the `pp · v` model chunks one, or ``ParallelConfigError/invalidLayout(layout:reason:)``
    ///   when the explicit layout does not sum to them.
    public func validate(layers: Int) throws {
        let v = pipeline.virtualStages
        if let layout = pipeline.layout {
            let total = layout.reduce(0, +)
            guard total == layers else {
                throw ParallelConfigError.invalidLayout(
                    layout: layout, reason: "the counts sum to \(total) but the model has \(layers) layers")
            }
        } else if layers < modelChunks {
            throw ParallelConfigError.layersDoNotSplit(layers: layers, pp: pp, virtualStages: v,
                                                       validStages: Array(1...max(1, layers / v)))
        }
    }

    /// Checks the layout against the batch.
    /// - Parameters:
    ///   - globalBatchSize: sequences per optimizer step over all ranks (`G`).
    ///   - sequenceLength: tokens per sequence (`T`).
    /// - Throws: ``ParallelConfigError`` when `G` is not a multiple of `dp · b`, the interleaved schedule gets
    ///   a micro-batch count that is not a multiple of pp, or a sequence-parallel micro-batch (each cp rank's share of it)
    ///   does not split over tp; ``ContextParallelError/sequenceTooShort(length:cp:)`` when `T < cp`.
    public func validate(globalBatchSize: Int, sequenceLength: Int) throws {
        guard globalBatchSize >= 1, globalBatchSize % (dp * microBatchSize) == 0 else {
            let sizes = (1...max(1, globalBatchSize)).filter { globalBatchSize % (dp * $0) == 0 }
            throw ParallelConfigError.batchDoesNotSplit(globalBatch: globalBatchSize, dp: dp, microBatchSize: microBatchSize,
                                                        validMicroBatchSizes: sizes)
        }
        let m = microBatches(globalBatchSize: globalBatchSize)
        if pp > 1, pipeline.schedule == .interleaved, m % pp != 0 {
            throw ParallelConfigError.scheduleNeeds(
                schedule: pipeline.schedule,
                reason: "\(m) micro-batches per step (global batch \(globalBatchSize) / (dp=\(dp) × micro-batch \(microBatchSize)))"
                    + " must be a multiple of pp=\(pp); use a global batch of \(dp * microBatchSize * pp)·k sequences"
                    + " or a micro-batch size that gives a multiple of \(pp)")
        }
        // With context parallelism each cp rank's share of the sequences must split over tp.
        let lengths = try (0..<cp).map { cp > 1 ? try ContextShard(length: sequenceLength, ranks: cp, rank: $0).localLength : sequenceLength }
        if sequenceParallel, let length = lengths.first(where: { (microBatchSize * $0) % tp != 0 }) {
            throw ParallelConfigError.sequenceParallel(
                reason: "a micro-batch of \(microBatchSize) × \(length) tokens" + (cp > 1 ? " (a cp rank's share of sequences of \(sequenceLength))" : "")
                    + " does not split over tp=\(tp); use a micro-batch size or sequence length whose product is a multiple of \(tp)")
        }
    }

    /// The schedule this layout runs for `microBatches` micro-batches per step.
    /// - Throws: ``ParallelConfigError/scheduleNeeds(schedule:reason:)`` when the schedule cannot run them.
    public func schedule(microBatches: Int) throws -> PipelineSchedule {
        do {
            return try PipelineSchedule(pipeline.schedule, stages: pp, microBatches: microBatches,
                                        virtualStages: pipeline.virtualStages)
        } catch let error as PipelineError {
            throw ParallelConfigError.scheduleNeeds(schedule: pipeline.schedule, reason: "\(error)")
        }
    }

    /// The layers of every model chunk: the explicit layout, or an even split of `layers` that gives the
    /// first and last chunk the embedding's and the head's cost (`embeddingCost`, `headCost` in layers).
    public func partition(layers: Int, embeddingCost: Double = 0, headCost: Double = 0) throws -> StagePartition {
        do {
            if let layout = pipeline.layout {
                return try StagePartition(layout: layout.map(String.init).joined(separator: ","), layers: layers,
                                          stages: pp, virtualStages: pipeline.virtualStages)
            }
            return try StagePartition(layers: layers, stages: pp, virtualStages: pipeline.virtualStages,
                                      embeddingCost: embeddingCost, headCost: headCost)
        } catch let error as PipelineError {
            throw ParallelConfigError.invalidLayout(layout: pipeline.layout ?? [], reason: "\(error)")
        }
    }

    /// Checks the layout in itself (the initializer does; call it again after changing fields).
    /// - Throws: ``ParallelConfigError`` as ``init(dp:pp:tp:sequenceParallel:microBatchSize:pipeline:memory:)`` does.
    public func validate() throws {
        for (parameter, value) in [(LayoutParameter.dp, dp), (.pp, pp), (.tp, tp), (.cp, cp), (.ep, ep),
                                   (.microBatchSize, microBatchSize), (.virtualStages, pipeline.virtualStages)] where value < 1 {
            throw ParallelConfigError.axisTooSmall(parameter: parameter, value: value)
        }
        guard (dp * cp) % ep == 0 else {
            throw ParallelConfigError.invalidOption(
                option: LayoutParameter.ep.name, value: "\(ep)",
                valid: "a divisor of dp × cp = \(dp * cp) (experts are sharded over ranks carved out of dp × cp): "
                    + (1...(dp * cp)).filter { (dp * cp) % $0 == 0 }.map(String.init).joined(separator: ", "))
        }
        guard memory.bucketElements >= 1 else {
            throw ParallelConfigError.invalidOption(option: LayoutParameter.bucketElements.name, value: "\(memory.bucketElements)",
                                                    valid: "a positive number of gradient elements")
        }
        guard [0, 1].contains(memory.zeroStage) else {
            throw ParallelConfigError.invalidOption(option: LayoutParameter.zeroStage.name, value: "\(memory.zeroStage)",
                                                    valid: "0 (replicated optimizer) or 1 (AdamW moments sharded over dp)")
        }
        if sequenceParallel && tp == 1 { throw ParallelConfigError.sequenceParallelNeedsTensorParallel }
        let schedule = pipeline.schedule, v = pipeline.virtualStages
        if v > 1 && schedule != .interleaved {
            throw ParallelConfigError.virtualStagesNeedInterleaving(schedule: schedule, virtualStages: v)
        }
        if schedule == .interleaved && pp == 1 { throw ParallelConfigError.interleavingNeedsStages }
        if schedule.splitsBackward && memory.recompute != .none {
            throw ParallelConfigError.recomputationWithSplitBackward(schedule: schedule, recompute: memory.recompute)
        }
        if let layout = pipeline.layout {
            guard layout.count == modelChunks else {
                throw ParallelConfigError.invalidLayout(
                    layout: layout, reason: "it has \(layout.count) entries but pp=\(pp)" + (v > 1 ? " × v=\(v)" : "")
                        + " needs \(modelChunks), one layer count per " + (v > 1 ? "model chunk" : "stage"))
            }
            guard layout.allSatisfy({ $0 >= 1 }) else {
                throw ParallelConfigError.invalidLayout(layout: layout, reason: "every stage needs at least 1 layer")
            }
        }
    }

    /// Layouts of exactly `ranks` ranks, keeping tp and pp where they divide.
    static func layouts(ranks: Int, near config: ParallelConfig) -> [String] {
        guard ranks >= 1 else { return [] }
        var options: [String] = []
        for tp in [config.tp, 1] where ranks % tp == 0 {
            for pp in [config.pp, 1] where (ranks / tp) % pp == 0 {
                for cp in [config.cp, 1] where (ranks / tp / pp) % cp == 0 {
                    let layout = "dp=\(ranks / tp / pp / cp) pp=\(pp) tp=\(tp)" + (cp > 1 ? " cp=\(cp)" : "")
                    if !options.contains(layout) { options.append(layout) }
                }
            }
        }
        return options
    }
}

/// One rank's coordinate on every axis of a ``ParallelConfig``'s mesh (see ``ParallelConfig/rankLayout``).
public struct RankPosition: Sendable, Hashable, Codable {
    public var rank: Int, tp: Int, cp: Int, dp: Int, pp: Int
    /// Expert-parallel rank (which `1/ep` of the experts) and expert-data-parallel rank.
    public var ep: Int, expertData: Int

    public init(rank: Int, tp: Int, cp: Int, dp: Int, pp: Int, ep: Int, expertData: Int) {
        (self.rank, self.tp, self.cp, self.dp, self.pp, self.ep, self.expertData) = (rank, tp, cp, dp, pp, ep, expertData)
    }
}
