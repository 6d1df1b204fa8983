import TesseraParallel
import TesseraPipeline

/// One way to lay a training job over the devices, as the planner costs it: the runtime's ``ParallelConfig`` (the
/// five axes, the micro-batch size, the schedule, recomputation, the ZeRO stage, sequence parallelism and the
/// context-parallel exchange: the one layout type `DeviceMesh`, the engine and the planner share) and what only the
/// planner varies, because other software differs there while Tessera's engine has one way or none: FlashAttention,
/// the FP32 gradient copy, PyTorch's DDP, the overlaps, the experts' own tp and their dispatch. Ranks are numbered
/// as ``ParallelConfig/rankLayout`` says: tp fastest, then cp, then dp (ep carved out of dp × cp), then pp.
public struct TrainingLayout: Sendable, Equatable, Hashable, Codable {
    /// The layout as the runtime describes it. It may hold what other software runs and Tessera's engine does not
    /// (ZeRO stages 2 and 3, recomputation under ZB-H1): ``ParallelConfig/validate()`` says whether the engine runs it.
    public var parallel: ParallelConfig
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
    /// Tensor-parallel size of the expert layers when it differs from tp (Megatron-Core's
    /// `--expert-tensor-parallel-size`, "MoE parallel folding"); nil: experts split over the same tp ranks.
    public var expertTensorParallel: Int?
    /// How MoE tokens reach their experts over the ep group (used only when ep > 1).
    public var expertDispatch: ExpertDispatch
    /// DeepSeek-V3's DualPipe in place of 1F1B (pp > 1; ``schedule`` holds 1F1B): micro-batches enter from both ends,
    /// each rank holds the model chunks r and p − 1 − r (two stages' parameters, "2×"), the bubble is
    /// (p/2 − 1)(F&B + B − 3W) and the first rank holds p + 1 micro-batches' activations (DeepSeek-AI 2024,
    /// "DeepSeek-V3 Technical Report", §3.2.1, Table 2).
    public var dualPipe = false

    /// Whether DualPipe can run `stages` pipeline stages over `microBatches` micro-batches per data-parallel rank:
    /// half the micro-batches enter from each end and the ranks pair up as r and p − 1 − r, so both must be even
    /// (DeepSeek-V3 report §3.2.1: DualPipe "only requires that the pipeline stages and micro-batches be divisible
    /// by 2", not the micro-batches by the stages).
    public static func dualPipeRuns(stages: Int, microBatches: Int) -> Bool {
        stages % 2 == 0 && microBatches % 2 == 0
    }
    /// DeepSeek-V3's activation recipe (§3.2.3, §3.3.3): RMSNorm outputs, MLA up-projections and SwiGLU outputs are
    /// recomputed in the backward pass, and the linear layers' cached inputs are kept in FP8 (the output
    /// projection's in E5M6) rather than 16 bits (``ModelArchitecture/compactActivationBytesPerLayer(layer:tokens:)``).
    public var lowPrecisionActivations = false

    /// A layout with `sequenceParallel` where tp > 1 (sequence parallelism splits over the tp group).
    public init(
        tp: Int, pp: Int, dp: Int, cp: Int = 1, ep: Int = 1, microBatchSize: Int, schedule: PipelineScheduleKind?,
        virtualStages: Int = 1, recompute: Recomputation, zeroStage: Int, sequenceParallel: Bool = true,
        flashAttention: Bool = true, float32GradientCopy: Bool = false, torchDDP: Bool = false,
        overlap: CommunicationOverlap = .none, contextParallelKind: ContextParallelKind = .ring,
        expertTensorParallel: Int? = nil, expertDispatch: ExpertDispatch = .allToAll
    ) {
        // Built field by field: the planner describes layouts beyond the engine's (see ``parallel``).
        parallel = .singleDevice
        (parallel.tp, parallel.pp, parallel.dp, parallel.cp, parallel.ep) = (tp, pp, dp, cp, ep)
        parallel.microBatchSize = microBatchSize
        parallel.sequenceParallel = sequenceParallel && tp > 1
        parallel.pipeline.schedule = schedule ?? .oneForwardOneBackward
        parallel.pipeline.virtualStages = virtualStages
        parallel.memory.recompute = recompute
        parallel.memory.zeroStage = zeroStage
        self.flashAttention = flashAttention
        self.float32GradientCopy = float32GradientCopy
        self.torchDDP = torchDDP
        self.overlap = overlap
        self.expertTensorParallel = expertTensorParallel
        self.expertDispatch = expertDispatch
        self.contextParallelKind = contextParallelKind
    }

    // MARK: The runtime layout's fields

    public var tp: Int { get { parallel.tp } set { parallel.tp = newValue } }
    public var pp: Int { get { parallel.pp } set { parallel.pp = newValue } }
    public var dp: Int { get { parallel.dp } set { parallel.dp = newValue } }
    public var cp: Int { get { parallel.cp } set { parallel.cp = newValue } }
    public var ep: Int { get { parallel.ep } set { parallel.ep = newValue } }
    public var microBatchSize: Int { get { parallel.microBatchSize } set { parallel.microBatchSize = newValue } }
    /// The pipeline schedule; nil when pp = 1.
    public var schedule: PipelineScheduleKind? {
        get { pp > 1 ? parallel.pipeline.schedule : nil }
        set { parallel.pipeline.schedule = newValue ?? .oneForwardOneBackward }
    }
    /// Model chunks per pipeline rank (1 unless interleaved).
    public var virtualStages: Int {
        get { parallel.pipeline.virtualStages } set { parallel.pipeline.virtualStages = newValue }
    }
    public var recompute: Recomputation { get { parallel.memory.recompute } set { parallel.memory.recompute = newValue } }
    /// ZeRO stage: 0 none, 1 optimizer states, 2 + gradients, 3 + parameters sharded over data parallelism.
    public var zeroStage: Int { get { parallel.memory.zeroStage } set { parallel.memory.zeroStage = newValue } }
    /// Sequence parallelism with tp > 1 (Korthikanti et al. 2022): norms, dropout and residuals split over the tp
    /// ranks too, at no extra communication. Off only to model software without it (Megatron-LM 2021).
    public var sequenceParallel: Bool { get { parallel.sequenceParallel } set { parallel.sequenceParallel = newValue } }
    /// How context parallelism exchanges keys and values (used only when cp > 1): the runtime's
    /// ``ParallelConfig/contextCommunication`` in the two kinds the planner costs.
    public var contextParallelKind: ContextParallelKind {
        get { parallel.contextCommunication == .allgather ? .allGather : .ring }
        set { parallel.contextCommunication = newValue == .allGather ? .allgather : .ring }
    }

    /// The expert layers' tensor-parallel size (``expertTensorParallel``, or tp).
    public var etp: Int { expertTensorParallel ?? tp }

    /// Ranks holding the same expert shards, over which expert gradients are reduced: tp·cp·dp / (etp·ep).
    public var expertDataParallel: Int { tp * cp * dp / (etp * ep) }

    /// Distance between consecutive ranks of an ep group: past the tp and cp ranks (ep carved out of dp) when the
    /// experts keep the tp split; over the tp ranks the experts free first when etp < tp (Megatron-Core's folding).
    public var expertParallelStride: Int { etp == tp ? tp * cp : etp }

    /// Devices the layout uses.
    public var deviceCount: Int { parallel.ranks }

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
        case dualPipe = "dual_pipe", lowPrecisionActivations = "low_precision_activations"
    }

    /// The planner's flat JSON form (`tp`, `micro_batch_size`, `schedule`, …), as `--json` writes it.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tp, forKey: .tp)
        try c.encode(pp, forKey: .pp)
        try c.encode(dp, forKey: .dp)
        try c.encode(cp, forKey: .cp)
        try c.encode(ep, forKey: .ep)
        try c.encode(microBatchSize, forKey: .microBatchSize)
        try c.encodeIfPresent(schedule, forKey: .schedule)
        try c.encode(virtualStages, forKey: .virtualStages)
        try c.encode(recompute, forKey: .recompute)
        try c.encode(zeroStage, forKey: .zeroStage)
        try c.encode(sequenceParallel, forKey: .sequenceParallel)
        try c.encode(flashAttention, forKey: .flashAttention)
        try c.encode(float32GradientCopy, forKey: .float32GradientCopy)
        try c.encode(torchDDP, forKey: .torchDDP)
        try c.encode(overlap, forKey: .overlap)
        try c.encode(contextParallelKind, forKey: .contextParallelKind)
        try c.encodeIfPresent(expertTensorParallel, forKey: .expertTensorParallel)
        try c.encode(expertDispatch, forKey: .expertDispatch)
        try c.encode(dualPipe, forKey: .dualPipe)
        try c.encode(lowPrecisionActivations, forKey: .lowPrecisionActivations)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            tp: try c.decode(Int.self, forKey: .tp), pp: try c.decode(Int.self, forKey: .pp),
            dp: try c.decode(Int.self, forKey: .dp), cp: try c.decode(Int.self, forKey: .cp),
            ep: try c.decode(Int.self, forKey: .ep), microBatchSize: try c.decode(Int.self, forKey: .microBatchSize),
            schedule: try c.decodeIfPresent(PipelineScheduleKind.self, forKey: .schedule),
            virtualStages: try c.decode(Int.self, forKey: .virtualStages),
            recompute: try c.decode(Recomputation.self, forKey: .recompute),
            zeroStage: try c.decode(Int.self, forKey: .zeroStage),
            sequenceParallel: try c.decode(Bool.self, forKey: .sequenceParallel),
            flashAttention: try c.decode(Bool.self, forKey: .flashAttention),
            float32GradientCopy: try c.decode(Bool.self, forKey: .float32GradientCopy),
            torchDDP: try c.decode(Bool.self, forKey: .torchDDP),
            overlap: try c.decode(CommunicationOverlap.self, forKey: .overlap),
            contextParallelKind: try c.decode(ContextParallelKind.self, forKey: .contextParallelKind),
            expertTensorParallel: try c.decodeIfPresent(Int.self, forKey: .expertTensorParallel),
            expertDispatch: try c.decode(ExpertDispatch.self, forKey: .expertDispatch))
        dualPipe = try c.decodeIfPresent(Bool.self, forKey: .dualPipe) ?? false
        lowPrecisionActivations = try c.decodeIfPresent(Bool.self, forKey: .lowPrecisionActivations) ?? false
    }
}

extension TrainingLayout {
    /// "none", "gpipe", "1f1b", "zb-h1", "interleaved(v2)" or "dualpipe".
    public var scheduleName: String {
        guard let schedule else { return "none" }
        if dualPipe { return "dualpipe" }
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
        if lowPrecisionActivations { parts.append("activations:fp8") }
        if !overlap.names.isEmpty { parts.append("overlap:\(overlap.names)") }
        return parts.joined(separator: " ")
    }
}
