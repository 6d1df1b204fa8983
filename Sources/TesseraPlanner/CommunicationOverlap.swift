/// Which collectives the software hides behind computation, each by its published mechanism. The time model
/// charges only what is left exposed; a layout without overlap pays every collective in full.
public struct CommunicationOverlap: Sendable, Hashable, Codable {
    /// Tensor-parallel all-gathers and reduce-scatters split into tp chunks that are pipelined with the matrix product
    /// next to them: Megatron-Core's `--tp-comm-overlap` (Transformer Engine userbuffers, ring-exchange all-gather
    /// and reduce-scatter around the QKV, projection and MLP products) and torchtitan's asynchronous tensor
    /// parallelism (PyTorch's micro-pipelined `fused_all_gather_matmul` / `fused_matmul_reduce_scatter`, Liang et
    /// al. 2024 §2.2). What stays exposed: whatever outlasts the product, and at least the first of the tp chunks,
    /// which nothing precedes (``exposed(_:behind:chunks:)``).
    public var tensorParallel: Bool
    /// The data-parallel gradient reduction starts bucket by bucket during the last micro-batch's backward pass, and
    /// the distributed optimizer's parameter all-gather runs during the next step's first forward pass
    /// (Megatron-Core `--overlap-grad-reduce --overlap-param-gather`); FSDP2 prefetches each layer's all-gather
    /// and reduce-scatters during backward, hiding ZeRO-2/3's per-micro-batch collectives behind every micro-batch
    /// (torchtitan, Liang et al. 2024 §2.1).
    public var dataParallel: Bool
    /// Pipeline sends and receives posted asynchronously and waited for only when their data is needed, so a
    /// transfer hides behind the next micro-batch's forward pass (Megatron-Core `--overlap-p2p-communication`;
    /// torchtitan's `torch.distributed.pipelining` schedules issue non-blocking `isend`/`irecv`).
    public var pipeline: Bool
    /// The expert dispatch and combine all-to-alls of one micro-batch hide behind the computation of another:
    /// DeepSeek-V3's DualPipe runs a forward chunk and a backward chunk of different micro-batches side by side and
    /// interleaves their communication with each other's computation (DeepSeek-AI 2024, "DeepSeek-V3 Technical
    /// Report", §3.2.1: "both all-to-all and PP communication can be fully hidden"). Its communication kernels
    /// occupy ``PlannerConstants/communicationStreamingMultiprocessors`` of the GPU's SMs meanwhile (§3.2.2), which
    /// the computation loses. What stays exposed: whatever outlasts the computation.
    public var expertParallel: Bool

    public init(tensorParallel: Bool, dataParallel: Bool, pipeline: Bool, expertParallel: Bool = false) {
        self.tensorParallel = tensorParallel
        self.dataParallel = dataParallel
        self.pipeline = pipeline
        self.expertParallel = expertParallel
    }

    /// Every collective paid in full (Megatron-LM 2021 and 2022).
    public static let none = CommunicationOverlap(tensorParallel: false, dataParallel: false, pipeline: false)
    /// The tp, dp and pp overlaps of Megatron-Core and torchtitan (no expert all-to-all overlap).
    public static let denseAxes = CommunicationOverlap(tensorParallel: true, dataParallel: true, pipeline: true)
    /// Every overlap the planner models.
    public static let all = CommunicationOverlap(tensorParallel: true, dataParallel: true, pipeline: true,
                                                 expertParallel: true)

    /// The exposed part of `communication` seconds hidden behind `compute` seconds when it is cut into `chunks`
    /// pieces pipelined with the compute: what outlasts the compute, and never less than one chunk.
    public static func exposed(_ communication: Double, behind compute: Double, chunks: Int) -> Double {
        max(communication - compute, communication / Double(max(chunks, 1)))
    }

    /// "tp,dp,pp,ep" for the overlaps that are on; empty for none.
    var names: String {
        [(tensorParallel, "tp"), (dataParallel, "dp"), (pipeline, "pp"), (expertParallel, "ep")].filter(\.0).map(\.1)
            .joined(separator: ",")
    }

    enum CodingKeys: String, CodingKey {
        case tensorParallel = "tensor_parallel", dataParallel = "data_parallel", pipeline
        case expertParallel = "expert_parallel"
    }
}

/// How context parallelism (cp > 1) gives each rank's queries the keys and values of the whole sequence.
public enum ContextParallelKind: String, CaseIterable, Sendable, Codable {
    /// Ring attention: keys and values travel around the cp ring block by block while each block's attention is
    /// computed, so the transfer hides behind attention (Transformer Engine's `AttnFuncWithCPAndKVP2P`, the
    /// Megatron-Core default `--cp-comm-type p2p`; Liu et al. 2023, "Ring Attention").
    case ring
    /// One all-gather of every rank's keys and values before attention and a reduce-scatter of their gradients
    /// after, not overlapped: Llama 3's context parallelism (Llama Team 2024, "The Llama 3 Herd of Models", §3.3.2:
    /// "all-gather based", cheap with 8 key/value heads); the full-sequence keys and values of one layer are held
    /// while it computes.
    case allGather = "all-gather"
}

/// How the tokens of a mixture-of-experts layer reach their experts over the ep group (used only when ep > 1).
public enum ExpertDispatch: String, CaseIterable, Sendable, Codable {
    /// One copy of a token per routed expert, through an all-to-all over the ep group in the activations' 16 bits;
    /// the combine sends the expert outputs back the same way (Megatron-Core's `--moe-token-dispatcher-type
    /// alltoall`).
    case allToAll = "all-to-all"
    /// DeepSeek-V3's dispatch (DeepSeek-AI 2024, §3.2.2): a token crosses InfiniBand once for each node it is routed
    /// to, to the GPU with the same in-node index, which forwards it over NVLink to the experts there; the combine
    /// reduces over NVLink before crossing InfiniBand once back. Group-limited routing bounds those nodes
    /// (``MixtureOfExperts/routingGroupsPerToken``). Tokens are dispatched in FP8 when the products run in FP8 and
    /// combined in BF16 (§3.3.3, "Low-Precision Storage and Communication").
    case nodeForwarded = "node-forwarded"
}
