import TesseraParallel
import TesseraPipeline

/// Which layouts the search may consider. The defaults allow everything the planner models; narrow them to match
/// a framework (Megatron-LM 2021 had no ZeRO: `zeroStages = [0]`).
public struct TrainingSearchSpace: Sendable {
    /// Schedules for pp > 1 (pp = 1 has none).
    public var schedules: Set<PipelineScheduleKind> = Set(PipelineScheduleKind.allCases)
    public var recompute: Set<Recomputation> = Set(Recomputation.allCases)
    /// ZeRO stages 2 and 3 are only combined with pp = 1 (DeepSpeed's pipeline engine supports ZeRO-1 only).
    public var zeroStages: Set<Int> = [0, 1, 2, 3]
    public var maxMicroBatchSize = 32
    public var maxVirtualStages = 8
    /// Restrict tp/pp/cp to these sizes (nil: any valid size).
    public var tensorParallelSizes: Set<Int>?
    public var pipelineParallelSizes: Set<Int>?
    public var contextParallelSizes: Set<Int>?
    /// Use sequence parallelism whenever tp > 1 (false models software without it).
    public var sequenceParallel = true
    /// Attention kernels that never write the s × s scores to memory (false models software without them).
    public var flashAttention = true
    /// The optimizer step casts the gradients to an FP32 copy (true models Megatron-LM 2021's optimizer).
    public var float32GradientCopy = false
    /// Whether pp = 1 layouts may use PyTorch's DDP (``TrainingLayout/torchDDP``: reduction overlapped with the last
    /// backward pass, gradient buckets in memory) besides reducing after the backward pass; true models
    /// Megatron-LM 2021, which offered both (`--DDP-impl torch|local`).
    public var torchDDP = false
    /// Restrict the micro-batch size to these values (nil: every divisor of the per-rank batch up to
    /// ``maxMicroBatchSize``). A reproduction of a published run fixes it, as its launch script does.
    public var microBatchSizes: Set<Int>?
    /// Megatron-LM's `--num-layers-per-virtual-pipeline-stage k`: when set, a pipeline of pp stages is interleaved
    /// with exactly v = layers / (pp·k) chunks per rank (1F1B when that is 1; no schedule when pp·k does not divide
    /// the layers), as rerunning a launch script with another pp gives. nil: any v (``maxVirtualStages``).
    public var layersPerVirtualStage: Int?
    /// Restrict ep to these sizes (nil: every divisor of dp that divides the experts).
    public var expertParallelSizes: Set<Int>?
    /// Whether the expert layers may run without tp (etp 1, ``TrainingLayout/expertTensorParallel``, Megatron-Core's
    /// MoE parallel folding) besides on the dense layers' tp: ep then also folds over the tp ranks the experts free.
    public var expertTensorParallel = true
    /// Which collectives the software hides behind computation (default: every overlap the planner models).
    public var overlap = CommunicationOverlap.all
    /// How context parallelism exchanges keys and values.
    public var contextParallelKind = ContextParallelKind.ring
    /// How MoE tokens reach their experts.
    public var expertDispatch = ExpertDispatch.allToAll
    /// Whether ZeRO-2/3 may combine with pp > 1, as torchtitan runs FSDP2 under a pipeline. False: DeepSpeed's
    /// pipeline engine and Megatron-LM's distributed optimizer shard the optimizer states only (ZeRO-1).
    public var shardedStatesWithPipeline = false
    /// Whether the pipeline split counts the embedding and the LM head with its loss as one layer each, so that the
    /// first and the last stage hold one transformer layer fewer: Llama 3 split 126 layers as 128 over 16 stages,
    /// "the first model chunk on the first stage has only the embedding, and the last model chunk on the last stage
    /// has only output projection and loss calculation" (Llama Team 2024, §3.3.2), to balance the first stage's
    /// memory (embedding and warm-up micro-batches) and the last stage's time. Interleaving then needs pp·v to
    /// divide the layers plus 2. False: Megatron-LM's split of the layers alone
    /// (``TrainingCostModel/chunkLayerCounts(layers:chunks:embeddingAndHeadAsLayers:)``).
    public var embeddingAndHeadAsLayers = false
    /// Whether pp > 1 runs DeepSeek-V3's DualPipe in place of 1F1B (``TrainingLayout/dualPipe``; it needs an even pp
    /// and an even micro-batch count: half the micro-batches enter from each end).
    public var dualPipe = false
    /// Whether layouts keep DeepSeek-V3's compact activations (``TrainingLayout/lowPrecisionActivations``).
    public var lowPrecisionActivations = false
    /// Whether the data-parallel gradient reduction moves FP32 gradients (4 bytes per parameter) rather than 16-bit
    /// ones: Llama 3 "reduce-scatter[s] gradients in FP32 across data parallel workers in FSDP" (Llama Team 2024,
    /// §3.3.2, "Numerical stability"). The parameter all-gather stays 16-bit.
    public var float32GradientReduction = false
    /// DeepSeek-V3's optimizer precision (DeepSeek-AI 2024, §3.3.3, "Low-Precision Optimizer States"): AdamW's
    /// moments in BF16 while "the master weights (stored by the optimizer) and gradients (used for batch size
    /// accumulation) are still retained in FP32": 4 bytes of gradients and 4 + 2 + 2 of optimizer states per
    /// parameter, against 2 and 12.
    public var deepSeekStatePrecision = false
    /// Whether gradients are accumulated and reduced in FP32 buffers beside 16-bit weights: 4 bytes of gradients per
    /// parameter (not 2), reduced in FP32. Megatron-Core with `--bf16` sets `accumulate_allreduce_grads_in_fp32`
    /// (megatron/training/arguments.py), and its distributed-optimizer guide (docs/source/distrib_optimizer.md)
    /// counts "bf16 param, fp32 grads" as 6 + 12/d bytes per parameter: 2 of weights and 4 of gradients on every
    /// rank, 12 of FP32 master weights and moments sharded over d. (Both recalled from the Megatron-LM repository,
    /// not re-read when this was written.)
    public var float32GradientBuffers = false

    public init() {}
}

/// The outcome of a search: the best layouts, how many were looked at, and why the rest were not.
public struct TrainingPlan: Sendable {
    public var job: TrainingJob
    /// Fitting layouts, fastest first (at most the number asked for).
    public var ranked: [TrainingEstimate]
    /// The best layout of each distinct mesh (tp, pp, dp, cp, ep), fastest first (at most the number asked for).
    public var bestMeshes: [TrainingEstimate]
    /// Layouts whose memory was evaluated (every divisibility-valid combination).
    public var candidatesEvaluated: Int
    /// Of those, how many fit in memory (each of these was also timed).
    public var fittingCount: Int
    /// The smallest per-device memory any candidate needs (to say what would fit when nothing does).
    public var smallestMemory: Double
    /// Distinct pipeline questions the bubble model answered (the rest came from its cache).
    public var bubbleEvaluations: Int

    /// The best layout of each distinct mesh, fastest first: the runners-up table.
    public func bestPerMesh(limit: Int) -> [TrainingEstimate] { Array(bestMeshes.prefix(limit)) }
}

/// Enumerates every valid layout for a job, drops those that do not fit, and ranks the rest by step time.
public enum TrainingSearch {
    /// Searches the layouts of `job` allowed by `space`.
    ///
    /// Valid means: tp divides the attention heads, the key/value heads (or is a multiple of them: replicated KV
    /// heads) and the MLP width; cp divides the sequence into 2·cp chunks (load-balanced causal ring); pp ≤ layers
    /// (divisors of the layer count and powers of two; the first and last stage take ⌈L/pp⌉ layers); dp = devices /
    /// (tp·cp·pp); ep divides dp and the expert count; the micro-batch divides the per-rank batch; interleaving needs
    /// the micro-batch count to be a multiple of pp and v·pp to divide the layers.
    ///
    /// Every candidate gets the memory model; every one that fits gets the time model without its pipeline bubble,
    /// a lower bound on its step time. Candidates are then taken in order of that bound and completed with the
    /// bubble until the bound exceeds both the `keep`-th best step time and the `keepMeshes`-th best mesh's: those
    /// are exact, and the bubble model is asked only about layouts that could rank.
    /// - Parameters:
    ///   - keep: how many of the best layouts to return, fastest first.
    ///   - keepMeshes: how many distinct meshes (tp, pp, dp, cp, ep) to return with their best layout.
    ///   - bubble: the pipeline bubble model (default: TesseraPipeline's simulator, each distinct question once).
    /// - Throws: ``PlannerError/invalidSize(name:value:reason:)`` for non-positive sizes,
    ///   ``PlannerError/noValidLayout(reasons:)`` when no combination divides evenly.
    public static func run(
        _ job: TrainingJob, space: TrainingSearchSpace = TrainingSearchSpace(), keep: Int = 50, keepMeshes: Int = 10,
        bubble: (any PipelineBubbleModel)? = nil
    ) throws -> TrainingPlan {
        try job.validate()
        let costModel = TrainingCostModel(job: job, space: space)
        let bubbleModel = CachedBubbleModel(bubble ?? SimulatedBubble())
        let usable = costModel.usableMemory
        var bounded: [Scored] = []
        var evaluated = 0
        var smallest = Double.infinity
        let meshes = try validMeshes(job, space: space)
        for mesh in meshes {
            forEachLayout(of: mesh, job: job, space: space) { layout in
                evaluated += 1
                let memory = costModel.memory(layout).total
                smallest = min(smallest, memory)
                guard memory <= usable else { return }
                let bound = costModel.time(layout, bubble: nil).time.total
                bounded.append(Scored(layout: layout, step: bound, memory: memory))
            }
        }
        if evaluated == 0 {
            throw PlannerError.noValidLayout(reasons: [
                "the global batch of \(job.globalBatchSize) leaves no micro-batch size for any data-parallel size "
                    + "of these meshes (\(meshes.prefix(6).map { "tp\($0.tp) pp\($0.pp) dp\($0.dp)" + ($0.cp > 1 ? " cp\($0.cp)" : "") }.joined(separator: ", ")))"
                    + "; use a batch divisible by the data-parallel size"
                    + (space.dualPipe ? " with an even number of micro-batches per dp rank (DualPipe, DeepSeek-V3 report §3.2.1)" : ""),
            ])
        }
        bounded.sort(by: Scored.faster)
        var best = TopList(capacity: keep)
        var bestMeshes = TopList(capacity: keepMeshes)
        for candidate in bounded {
            if best.excludes(candidate), bestMeshes.excludes(candidate) { break }
            let step = candidate.layout.pp == 1
                ? candidate.step : costModel.time(candidate.layout, bubble: bubbleModel).time.total
            let exact = Scored(layout: candidate.layout, step: step, memory: candidate.memory)
            best.insert(exact)
            bestMeshes.insert(exact, replacing: { $0.layout.mesh == exact.layout.mesh })
        }
        return TrainingPlan(
            job: job, ranked: best.items.map { costModel.estimate($0.layout, bubble: bubbleModel) },
            bestMeshes: bestMeshes.items.map { costModel.estimate($0.layout, bubble: bubbleModel) },
            candidatesEvaluated: evaluated, fittingCount: bounded.count, smallestMemory: smallest,
            bubbleEvaluations: bubbleModel.misses)
    }

    /// The fastest `capacity` entries seen, fastest first.
    struct TopList {
        let capacity: Int
        private(set) var items: [Scored] = []

        init(capacity: Int) { self.capacity = max(capacity, 0) }

        /// Whether a layout whose time is at least `candidate.step` can no longer enter the list.
        func excludes(_ candidate: Scored) -> Bool {
            items.count >= capacity && (items.last.map { candidate.step > $0.step } ?? true)
        }

        /// Inserts `entry`; with `replacing`, an entry it matches is kept only if faster (one per key).
        mutating func insert(_ entry: Scored, replacing matches: ((Scored) -> Bool)? = nil) {
            if let matches, let old = items.firstIndex(where: matches) {
                guard Scored.faster(entry, items[old]) else { return }
                items.remove(at: old)
            }
            let index = items.firstIndex { Scored.faster(entry, $0) } ?? items.endIndex
            guard index < capacity else { return }
            items.insert(entry, at: index)
            if items.count > capacity { items.removeLast() }
        }
    }

    /// A layout with its (bound on, or exact) step time and its memory.
    struct Scored {
        var layout: TrainingLayout
        var step: Double
        var memory: Double

        /// Faster first; equal times (pp = 1 gives the same time for every micro-batch size, up to rounding) go
        /// to the smaller memory, comparing times in whole nanoseconds.
        static func faster(_ a: Scored, _ b: Scored) -> Bool {
            ((a.step * 1e9).rounded(), a.memory) < ((b.step * 1e9).rounded(), b.memory)
        }
    }

    /// Whether any allowed layout of `job` fits in memory (stops at the first that does).
    public static func anyLayoutFits(_ job: TrainingJob, space: TrainingSearchSpace = TrainingSearchSpace()) -> Bool {
        guard (try? job.validate()) != nil, let meshes = try? validMeshes(job, space: space) else { return false }
        let costModel = TrainingCostModel(job: job, space: space)
        for mesh in meshes {
            var found = false
            forEachLayout(of: mesh, job: job, space: space) { layout in
                if !found && costModel.memory(layout).total <= costModel.usableMemory { found = true }
            }
            if found { return true }
        }
        return false
    }

    struct Mesh { var tp, cp, pp, dp: Int }

    /// The (tp, cp, pp, dp) meshes whose sizes divide the model and the device count.
    /// - Throws: ``PlannerError/noValidLayout(reasons:)`` explaining which divisibility failed.
    static func validMeshes(_ job: TrainingJob, space: TrainingSearchSpace) throws -> [Mesh] {
        let model = job.model
        let n = job.devices
        let tensorSizes = divisors(model.attentionHeads).filter { t in
            (model.keyValueHeads % t == 0 || t % model.keyValueHeads == 0)
                && (model.ffnSize == 0 || model.ffnSize % t == 0)
                && (model.moe.map { $0.expertFFNSize % t == 0 } ?? true)
                && n % t == 0 && (space.tensorParallelSizes?.contains(t) ?? true)
        }
        var contextSizes = [1]
        var c = 2
        while c <= n && job.sequenceLength % (2 * c) == 0 {
            contextSizes.append(c)
            c *= 2
        }
        contextSizes = contextSizes.filter { space.contextParallelSizes?.contains($0) ?? true }
        var pipelineSizes = Set(divisors(model.layers))
        var power = 1
        while power <= model.layers { pipelineSizes.insert(power); power *= 2 }
        let pipelines = pipelineSizes.sorted().filter { space.pipelineParallelSizes?.contains($0) ?? true }
        var meshes: [Mesh] = []
        for t in tensorSizes {
            for c in contextSizes where n % (t * c) == 0 {
                for p in pipelines where n % (t * c * p) == 0 {
                    meshes.append(Mesh(tp: t, cp: c, pp: p, dp: n / (t * c * p)))
                }
            }
        }
        guard !meshes.isEmpty else {
            throw PlannerError.noValidLayout(reasons: [
                "\(n) GPUs cannot be split into tp·cp·pp·dp with tp dividing the \(model.attentionHeads) attention "
                    + "heads (valid tp: \(divisors(model.attentionHeads).filter { model.keyValueHeads % $0 == 0 || $0 % model.keyValueHeads == 0 }.map(String.init).joined(separator: ", "))) "
                    + "and pp at most the \(model.layers) layers",
            ])
        }
        return meshes
    }

    /// Calls `body` with every layout of `mesh`: expert sizes, micro-batch sizes, schedules (with virtual stage
    /// counts), recomputation choices and ZeRO stages.
    static func forEachLayout(
        of mesh: Mesh, job: TrainingJob, space: TrainingSearchSpace, _ body: (TrainingLayout) -> Void
    ) {
        let model = job.model
        guard job.globalBatchSize % mesh.dp == 0 else { return }
        let perRank = job.globalBatchSize / mesh.dp
        // (etp, ep): etp is tp or 1 (whole experts, the folding's usual choice; the sizes between multiply the
        // candidates of a large MoE search for little); ep divides the experts and dp·tp/etp.
        let expertSizes: [(Int, Int)] = model.moe.map { moe in
            let tensorSizes = space.expertTensorParallel && mesh.tp > 1 ? [mesh.tp, 1] : [mesh.tp]
            return tensorSizes.flatMap { etp in
                divisors(mesh.dp * mesh.tp / etp).filter {
                    moe.experts % $0 == 0 && (space.expertParallelSizes?.contains($0) ?? true)
                }.map { (etp, $0) }
            }
        } ?? [(mesh.tp, 1)]
        let microBatchSizes = divisors(perRank).filter {
            $0 <= space.maxMicroBatchSize && (space.microBatchSizes?.contains($0) ?? true)
        }
        let recomputes = Recomputation.allCases.filter(space.recompute.contains)
        let zeroStages = (0...3).filter { space.zeroStages.contains($0) && (mesh.pp == 1 || $0 <= 1 || space.shardedStatesWithPipeline) }
        // PyTorch DDP with ZeRO 0 and pp = 1 only (Megatron-LM's pipelined schedules need its local DDP).
        let ddpChoices = space.torchDDP && mesh.pp == 1 && mesh.dp > 1 ? [false, true] : [false]
        var schedules: [(PipelineScheduleKind?, Int)] = []
        if mesh.pp == 1 {
            schedules = [(nil, 1)]
        } else if let k = space.layersPerVirtualStage {
            // A fixed layer count per model chunk: one v for this pp (Megatron-LM derives it the same way).
            let perStage = model.layers / mesh.pp
            if model.layers % mesh.pp == 0, k > 0, perStage % k == 0 {
                let v = perStage / k
                let kind: PipelineScheduleKind = v == 1 ? .oneForwardOneBackward : .interleaved
                if space.schedules.contains(kind) { schedules.append((kind, v)) }
            }
        } else {
            for kind in [PipelineScheduleKind.gpipe, .oneForwardOneBackward, .zeroBubbleH1] where space.schedules.contains(kind) {
                schedules.append((kind, 1))
            }
            let slots = TrainingCostModel.pipelineSlots(
                layers: model.layers, embeddingAndHeadAsLayers: space.embeddingAndHeadAsLayers,
                predictionModules: model.predictionModules)
            if space.schedules.contains(.interleaved), slots % mesh.pp == 0 {
                for v in divisors(slots / mesh.pp) where v >= 2 && v <= space.maxVirtualStages {
                    schedules.append((.interleaved, v))
                }
            }
        }
        for (etp, ep) in expertSizes {
            for b in microBatchSizes {
                let m = perRank / b
                for (schedule, v) in schedules {
                    if schedule == .interleaved && m % mesh.pp != 0 { continue }
                    let dualPipe = space.dualPipe && schedule == .oneForwardOneBackward
                    if dualPipe && !TrainingLayout.dualPipeRuns(stages: mesh.pp, microBatches: m) { continue }
                    for recompute in recomputes {
                        for zero in zeroStages {
                            for torchDDP in ddpChoices where !torchDDP || zero == 0 {
                                var layout = TrainingLayout(
                                    tp: mesh.tp, pp: mesh.pp, dp: mesh.dp, cp: mesh.cp, ep: ep, microBatchSize: b,
                                    schedule: schedule, virtualStages: v, recompute: recompute, zeroStage: zero,
                                    sequenceParallel: space.sequenceParallel, flashAttention: space.flashAttention,
                                    float32GradientCopy: space.float32GradientCopy, torchDDP: torchDDP,
                                    overlap: space.overlap, contextParallelKind: space.contextParallelKind,
                                    expertTensorParallel: etp == mesh.tp ? nil : etp,
                                    expertDispatch: space.expertDispatch)
                                (layout.dualPipe, layout.lowPrecisionActivations) = (dualPipe, space.lowPrecisionActivations)
                                body(layout)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Positive divisors of `n`, ascending.
    static func divisors(_ n: Int) -> [Int] {
        guard n > 0 else { return [] }
        var small: [Int] = [], large: [Int] = []
        var i = 1
        while i * i <= n {
            if n % i == 0 {
                small.append(i)
                if i != n / i { large.append(n / i) }
            }
            i += 1
        }
        return small + large.reversed()
    }
}
