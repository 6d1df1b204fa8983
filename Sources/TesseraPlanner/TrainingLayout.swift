import TesseraPipeline

/// One way to lay a training job over the devices: the sizes of the five parallel axes and the options that
/// change memory and time. Ranks are numbered tp fastest, then cp, then dp (ep is carved out of dp), then pp.
public struct TrainingLayout: Sendable, Equatable, Hashable, Codable {
    public var tp: Int
    public var pp: Int
    public var dp: Int
    public var cp: Int
    public var ep: Int
    public var microBatchSize: Int
    /// The pipeline schedule (TesseraPipeline's kinds); nil when pp = 1.
    public var schedule: PipelineScheduleKind?
    /// Model chunks per pipeline rank (1 unless interleaved).
    public var virtualStages: Int
    public var recompute: Recompute
    /// ZeRO stage: 0 none, 1 optimizer states, 2 + gradients, 3 + parameters sharded over data parallelism.
    public var zeroStage: Int
    /// Sequence parallelism with tp > 1 (Korthikanti et al. 2022): norms, dropout and residuals split over the tp
    /// ranks too, at no extra communication. Off only to model software without it (Megatron-LM 2021).
    public var sequenceParallel: Bool
    /// Attention computed tile by tile without writing the s × s scores to memory (Dao et al. 2022,
    /// "FlashAttention"). Off models software that materializes scores, probabilities and dropout masks (Megatron-LM
    /// 2021): their memory traffic then adds to the step.
    public var flashAttention: Bool
    /// The optimizer step works on an FP32 copy of the gradients next to the 16-bit ones (Megatron-LM 2021): the
    /// step's memory, 20 bytes per parameter without activations, can exceed the 16 bytes plus activations of the
    /// passes. Off: the 16 bytes of Rajbhandari et al. (gradients reduced into the FP32 states in place).
    public var float32GradientCopy: Bool
    /// Data parallelism through PyTorch's `DistributedDataParallel` (pp = 1 only), as Megatron-LM 2021 ran it with
    /// `--DDP-impl torch`: gradients of all micro-batches but the last accumulate under `no_sync()`
    /// (megatron/schedules.py, `forward_backward_no_pipelining`), and the last one's backward pass launches the
    /// bucketed all-reduce as gradients become ready, so the reduction overlaps that backward pass. Its reducer
    /// copies the gradients into flat buckets (`gradient_as_bucket_view=False`, PyTorch's default: PyTorch
    /// documentation of DistributedDataParallel), 2 more bytes per parameter. Off: Megatron-LM's own
    /// `--DDP-impl local`, which reduces after the whole backward pass (and the pipeline's flush).
    public var torchDDP: Bool
    /// Which collectives the software hides behind computation (none unless set: every collective paid in full).
    public var overlap: CommunicationOverlap
    /// How context parallelism exchanges keys and values (used only when cp > 1).
    public var contextParallelKind: ContextParallelKind
    /// Tensor-parallel size of the expert layers when it differs from tp (Megatron-Core's
    /// `--expert-tensor-parallel-size`, "MoE parallel folding"); nil: experts split over the same tp ranks.
    public var expertTensorParallel: Int?
    /// How MoE tokens reach their experts over the ep group (used only when ep > 1).
    public var expertDispatch: ExpertDispatch

    public init(
        tp: Int, pp: Int, dp: Int, cp: Int = 1, ep: Int = 1, microBatchSize: Int, schedule: PipelineScheduleKind?,
        virtualStages: Int = 1, recompute: Recompute, zeroStage: Int, sequenceParallel: Bool = true,
        flashAttention: Bool = true, float32GradientCopy: Bool = false, torchDDP: Bool = false,
        overlap: CommunicationOverlap = .none, contextParallelKind: ContextParallelKind = .ring,
        expertTensorParallel: Int? = nil, expertDispatch: ExpertDispatch = .allToAll
    ) {
        self.tp = tp
        self.pp = pp
        self.dp = dp
        self.cp = cp
        self.ep = ep
        self.microBatchSize = microBatchSize
        self.schedule = schedule
        self.virtualStages = virtualStages
        self.recompute = recompute
        self.zeroStage = zeroStage
        self.sequenceParallel = sequenceParallel
        self.flashAttention = flashAttention
        self.float32GradientCopy = float32GradientCopy
        self.torchDDP = torchDDP
        self.overlap = overlap
        self.contextParallelKind = contextParallelKind
        self.expertTensorParallel = expertTensorParallel
        self.expertDispatch = expertDispatch
    }

    /// The expert layers' tensor-parallel size (``expertTensorParallel``, or tp).
    public var etp: Int { expertTensorParallel ?? tp }

    /// Ranks holding the same expert shards, over which expert gradients are reduced: tp·cp·dp / (etp·ep).
    public var expertDataParallel: Int { tp * cp * dp / (etp * ep) }

    /// Distance between consecutive ranks of an ep group: past the tp and cp ranks (ep carved out of dp) when the
    /// experts keep the tp split; over the tp ranks the experts free first when etp < tp (Megatron-Core's folding).
    public var expertParallelStride: Int { etp == tp ? tp * cp : etp }

    /// Devices the layout uses.
    public var deviceCount: Int { tp * pp * dp * cp }

    /// The mesh alone (the axes, without micro-batch size, schedule, recomputation or ZeRO).
    public var mesh: [Int] { [tp, pp, dp, cp, ep] }

    enum CodingKeys: String, CodingKey {
        case tp, pp, dp, cp, ep, schedule, recompute
        case microBatchSize = "micro_batch_size"
        case virtualStages = "virtual_stages"
        case zeroStage = "zero_stage"
        case sequenceParallel = "sequence_parallel"
        case flashAttention = "flash_attention"
        case float32GradientCopy = "float32_gradient_copy"
        case torchDDP = "torch_ddp"
        case overlap, contextParallelKind = "context_parallel_kind"
        case expertTensorParallel = "expert_tensor_parallel"
        case expertDispatch = "expert_dispatch"
    }

    /// "none", "gpipe", "1f1b", "zb-h1" or "interleaved(v2)".
    public var scheduleName: String {
        guard let schedule else { return "none" }
        return schedule == .interleaved ? "interleaved(v\(virtualStages))" : schedule.rawValue
    }

    /// "tp8 pp8 dp24 mbs1 interleaved(v2) recompute:full zero1" (with "no-sp" and "no-flash" for software without
    /// sequence parallelism or FlashAttention, "overlap:tp,dp,pp" for hidden collectives, "cp:all-gather" for Llama
    /// 3's context parallelism, "dispatch:node-forwarded" for DeepSeek-V3's expert dispatch). ``init(summary:)`` reads the mesh and options back.
    public var summary: String {
        var parts = ["tp\(tp)", "pp\(pp)", "dp\(dp)"]
        if cp > 1 { parts.append("cp\(cp)") }
        if ep > 1 { parts.append("ep\(ep)") }
        if etp != tp { parts.append("etp\(etp)") }
        parts.append("mbs\(microBatchSize)")
        parts.append(scheduleName)
        parts.append("recompute:\(recompute.rawValue)")
        parts.append("zero\(zeroStage)")
        if tp > 1 && !sequenceParallel { parts.append("no-sp") }
        if !flashAttention { parts.append("no-flash") }
        if torchDDP { parts.append("torch-ddp") }
        if cp > 1 && contextParallelKind == .allGather { parts.append("cp:all-gather") }
        if ep > 1 && expertDispatch != .allToAll { parts.append("dispatch:\(expertDispatch.rawValue)") }
        if !overlap.names.isEmpty { parts.append("overlap:\(overlap.names)") }
        return parts.joined(separator: " ")
    }
}
