import TesseraParallel
import TesseraPipeline

/// The training software a run used, as far as the planner's memory and time models see it: which layouts it can
/// run (its ``space``) and which collectives it hides behind computation (``TrainingSearchSpace/overlap``). The
/// CLI's `--framework NAME`; the default, ``everything``, is every feature the planner models.
public struct SoftwareProfile: Sendable {
    /// The `--framework` value.
    public var name: String
    /// What it models and where the facts come from (one paragraph, shown by `tessera plan train --help`).
    public var summary: String
    /// The layouts it can run and how it runs them.
    public var space: TrainingSearchSpace
    /// Why it cannot run context or expert parallelism (nil where it can).
    var contextParallelMissing: String?
    var expertParallelMissing: String?

    /// The frameworks `--framework` knows, oldest first, then the in-house software of two published runs;
    /// ``everything`` is the default and not among them.
    public static let known: [SoftwareProfile] = [megatron2021, megatron2022, megatronCore, torchtitan, llama3, deepSeekV3]

    /// The profile called `name`.
    /// - Throws: ``PlannerError/unknownFramework(name:known:)`` listing the known names.
    public static func named(_ name: String) throws -> SoftwareProfile {
        guard let profile = known.first(where: { $0.name == name.lowercased() }) else {
            throw PlannerError.unknownFramework(name: name, known: known.map(\.name))
        }
        return profile
    }

    /// Megatron-LM as Narayanan et al. 2021 ran it (SC'21, "Efficient Large-Scale Language Model Training on GPU
    /// Clusters Using Megatron-LM"; NVIDIA/Megatron-LM `examples/sc21`): tp, pp (1F1B and interleaved) and dp only;
    /// full recomputation; no ZeRO, sequence parallelism or FlashAttention (fused scale-mask-softmax over
    /// materialized scores); an FP32 copy of the gradients for the optimizer; PyTorch or local DDP; every collective
    /// paid in full.
    public static var megatron2021: SoftwareProfile {
        var space = TrainingSearchSpace()
        space.schedules = [.oneForwardOneBackward, .interleaved]
        space.recompute = [.full]
        space.zeroStages = [0]
        space.contextParallelSizes = [1]
        space.expertParallelSizes = [1]
        space.expertTensorParallel = false
        space.sequenceParallel = false
        space.flashAttention = false
        space.float32GradientCopy = true
        space.torchDDP = true
        space.overlap = .none
        return SoftwareProfile(
            name: "megatron-2021",
            summary: "Megatron-LM of Narayanan et al. 2021: tp, pp (1F1B, interleaved), dp; full recomputation; no "
                + "ZeRO, sequence parallelism or FlashAttention; FP32 gradient copy; PyTorch or local DDP; no overlap",
            space: space,
            contextParallelMissing: "context parallelism came with Megatron-Core (2023)",
            expertParallelMissing: "expert parallelism came with Megatron-Core (2023)")
    }

    /// Megatron-LM after Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models"):
    /// sequence parallelism on every tp > 1 layout and selective recomputation of the attention scores (§4.2.2,
    /// §5) next to full and none; still materialized attention scores, no distributed optimizer (ZeRO 0), the FP32
    /// gradient copy, local DDP and no overlap.
    public static var megatron2022: SoftwareProfile {
        var profile = megatron2021
        profile.name = "megatron-2022"
        profile.summary = "Megatron-LM of Korthikanti et al. 2022: megatron-2021 plus sequence parallelism and "
            + "selective recomputation; no distributed optimizer, FlashAttention or overlap"
        profile.space.recompute = Set(Recomputation.allCases)
        profile.space.sequenceParallel = true
        profile.space.torchDDP = false
        return profile
    }

    /// Megatron-Core (NVIDIA Megatron-Core documentation and `megatron/core`, 2024): the distributed optimizer
    /// (ZeRO-1) with `--overlap-grad-reduce --overlap-param-gather`, tensor-parallel communication overlapped with
    /// the GEMMs (`--tp-comm-overlap`, Transformer Engine userbuffers), asynchronous pipeline transfers
    /// (`--overlap-p2p-communication`), FlashAttention through Transformer Engine, sequence parallelism, all three
    /// recomputation choices, context parallelism (ring, `--cp-comm-type p2p`) and expert parallelism with
    /// all-to-all token dispatch (`--moe-token-dispatcher-type alltoall`) and its own expert tp
    /// (`--expert-tensor-parallel-size`); 1F1B and interleaved schedules; BF16 weights with FP32 gradient buffers
    /// (``TrainingSearchSpace/float32GradientBuffers``).
    public static var megatronCore: SoftwareProfile {
        var space = TrainingSearchSpace()
        space.schedules = [.oneForwardOneBackward, .interleaved]
        space.zeroStages = [0, 1]
        space.float32GradientBuffers = true
        space.overlap = .denseAxes
        space.contextParallelKind = .ring
        return SoftwareProfile(
            name: "megatron-core",
            summary: "Megatron-Core (2024): distributed optimizer with overlapped reduce-scatter/all-gather (FP32 "
                + "gradient buffers), tp "
                + "communication overlapped with GEMMs, async pipeline transfers, FlashAttention, sequence "
                + "parallelism, ring context parallelism, expert parallelism (all-to-all); 1F1B and interleaved",
            space: space, contextParallelMissing: nil, expertParallelMissing: nil)
    }

    /// torchtitan as Liang et al. 2024 describe it ("TorchTitan: One-stop PyTorch native solution for production
    /// ready LLM pre-training", arXiv:2410.06511): FSDP2 (ZeRO-2/3, also under a pipeline, each layer's all-gather
    /// prefetched and its reduce-scatter overlapped), tensor parallelism with sequence-parallel norms and
    /// asynchronous TP (micro-pipelined all-gather/reduce-scatter with the matmuls), `torch.distributed.pipelining`
    /// (GPipe, 1F1B, interleaved 1F1B, zero-bubble), ring context parallelism, FlashAttention through SDPA and
    /// selective or full activation checkpointing. The paper has no expert parallelism.
    public static var torchtitan: SoftwareProfile {
        var space = TrainingSearchSpace()
        space.zeroStages = [2, 3]
        space.shardedStatesWithPipeline = true
        space.expertParallelSizes = [1]
        space.expertTensorParallel = false
        space.overlap = .denseAxes
        space.contextParallelKind = .ring
        return SoftwareProfile(
            name: "torchtitan",
            summary: "torchtitan of Liang et al. 2024: FSDP2 (ZeRO-2/3, overlapped), async tensor parallelism, "
                + "pipelining (GPipe, 1F1B, interleaved, zero-bubble), ring context parallelism, FlashAttention; no "
                + "expert parallelism",
            space: space, contextParallelMissing: nil,
            expertParallelMissing: "Liang et al. 2024 describe no expert parallelism in torchtitan")
    }

    /// Every feature the planner models (the default): all schedules, recomputation choices, ZeRO stages, cp, ep
    /// and overlaps (the expert all-to-all's too), with Megatron-Core's per-expert all-to-all dispatch.
    public static var everything: SoftwareProfile {
        SoftwareProfile(
            name: "everything", summary: "every feature the planner models", space: TrainingSearchSpace(),
            contextParallelMissing: nil, expertParallelMissing: nil)
    }

    /// Gives `layout` this software's features that a layout string does not name: sequence parallelism,
    /// FlashAttention, the FP32 gradient copy, the overlaps, the context-parallel exchange, the expert dispatch,
    /// DualPipe and the activation recipe.
    public func applyingFeatures(to layout: TrainingLayout) -> TrainingLayout {
        var layout = layout
        layout.sequenceParallel = space.sequenceParallel && layout.tp > 1
        layout.flashAttention = space.flashAttention
        layout.float32GradientCopy = space.float32GradientCopy
        layout.overlap = space.overlap
        layout.contextParallelKind = space.contextParallelKind
        layout.expertDispatch = space.expertDispatch
        layout.dualPipe = space.dualPipe && layout.pp > 1
        layout.lowPrecisionActivations = space.lowPrecisionActivations
        return layout
    }

    /// Checks that this software could run `layout`.
    /// - Throws: ``PlannerError/unsupportedLayout(framework:layout:reason:)`` saying what it lacks.
    public func check(_ layout: TrainingLayout) throws {
        func fail(_ reason: String) throws -> Never {
            throw PlannerError.unsupportedLayout(framework: name, layout: layout.summary, reason: reason)
        }
        if layout.cp > 1, let why = contextParallelMissing { try fail("cp \(layout.cp) needs context parallelism; \(why)") }
        if layout.ep > 1, let why = expertParallelMissing { try fail("ep \(layout.ep) needs expert parallelism; \(why)") }
        if !space.recompute.contains(layout.recompute) {
            try fail("it has no \(layout.recompute.rawValue) recomputation (it offers "
                + Recomputation.allCases.filter(space.recompute.contains).map(\.rawValue).joined(separator: ", ") + ")")
        }
        if !space.zeroStages.contains(layout.zeroStage) {
            try fail("it has no ZeRO stage \(layout.zeroStage) (it offers " + space.zeroStages.sorted().map(String.init)
                .joined(separator: ", ") + ")")
        }
        if layout.zeroStage > 1 && layout.pp > 1 && !space.shardedStatesWithPipeline {
            try fail("it shards only optimizer states (ZeRO-1) under a pipeline")
        }
        if let schedule = layout.schedule, !space.schedules.contains(schedule) {
            try fail("it has no \(schedule.rawValue) schedule (it offers "
                + PipelineScheduleKind.allCases.filter(space.schedules.contains).map(\.rawValue).joined(separator: ", ")
                + ")")
        }
        if layout.torchDDP && !space.torchDDP { try fail("it does not run PyTorch's DDP") }
        if layout.dualPipe && !space.dualPipe { try fail("it has no DualPipe schedule (the deepseek-v3 profile has it)") }
        if layout.lowPrecisionActivations && !space.lowPrecisionActivations {
            try fail("it keeps activations in 16 bits (FP8 activation caching is in the deepseek-v3 profile)")
        }
        if layout.etp != layout.tp && !space.expertTensorParallel {
            try fail("it splits the experts over the same tp ranks as the dense layers (etp = tp)")
        }
    }
}
