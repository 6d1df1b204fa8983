/// Every constant of the memory and time models, each with where it comes from.
public enum PlannerConstants {
    // MARK: Memory

    /// Mixed-precision Adam keeps 16 bytes per parameter: BF16/FP16 weights (2) and gradients (2) plus FP32
    /// master weights, momentum and variance (12) — Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward
    /// Training Trillion Parameter Models", §3.1 (K = 12, 16Ψ in total).
    public static let weightBytesPerParameter = 2.0
    public static let gradientBytesPerParameter = 2.0
    public static let optimizerBytesPerParameter = 12.0

    /// Megatron-LM 2021's mixed-precision optimizer (`Float16OptimizerWithFloat16Params`, megatron/optimizer/
    /// optimizer.py) casts the 16-bit gradients to an FP32 copy on the main parameters before Adam: 4 more bytes
    /// per parameter during the optimizer step (``TrainingLayout/float32GradientCopy``).
    public static let float32GradientCopyBytesPerParameter = 4.0

    /// Activations are stored in 16 bits; dropout masks in 1 byte (Korthikanti et al. 2022, §4.1).
    public static let activationBytes = 2.0

    /// Fraction of device memory kept free for the CUDA context, cuBLAS/NCCL workspaces and allocator
    /// fragmentation: 10%, as vLLM's default `gpu_memory_utilization = 0.9`. Layouts must fit in the other 90%.
    public static let memoryReserveFraction = 0.10

    /// Serving keeps a prefill workspace for this many tokens at once (chunked prefill; vLLM's
    /// `max_num_batched_tokens` default with chunked prefill is 2048 in its V0 engine).
    public static let prefillChunkTokens = 2048

    // MARK: Time

    /// Fraction of the dense peak rate that large matrix products (many waves of tiles; ``matmulTile``) reach
    /// inside a training or serving step on a GPU: one value for every model, layout and GPU. It is the one constant
    /// fitted to data: a round value chosen once against Narayanan et al. 2021 Table 1 as a whole, by the
    /// predicted/published TFLOP/s ratios alone (with it their geometric mean is 1.004 since each row's launch
    /// recipe and PyTorch DDP's overlap are modeled, 1.01 before; it was 0.65 before the last wave's tail was
    /// modeled, which took 4.5% off the predictions), never by where layouts rank; the other terms
    /// (communication, bubbles, wave tails, element-wise and attention traffic) come from link, SM and memory
    /// figures. For reference, large cuBLAS GEMMs alone reach 80-90% of peak; the gap is kernel launch gaps, the
    /// depth of each product and the unfused small operations of a real step. The CPU profile overrides it with 1.0
    /// because its rate is a measured sgemm rate, not a peak.
    public static let matmulEfficiency = 0.70

    /// The output tile one thread block of a large FP16/BF16 cuBLAS matrix product computes, 256 × 128 elements,
    /// one block per SM at a time: NVIDIA's "Matrix Multiplication Background User's Guide" (Deep Learning
    /// Performance documentation), "Wave Quantization", with this tile on A100's 108 SMs. An M × N product runs
    /// ⌈M/256⌉·⌈N/128⌉ tiles in waves of one per SM, and its last wave leaves SMs idle. Which tile and split
    /// cuBLAS's heuristics pick makes the last wave's fill effectively arbitrary, so the planner charges the
    /// expected half wave: a product of w waves runs at w / (w + 1/2) of the large-product rate. It is one reason
    /// throughput per GPU grows with the micro-batch size (Narayanan et al. 2021 §3.3, Figure 7), and part of what a
    /// tensor-parallel split costs beyond its communication (it narrows every product). Applied to the training
    /// time model's layer and LM-head products (forward, input and weight gradients); not to serving, the attention
    /// core's batched products or MoE experts apart from their layer. The depth K of a product (a short K also
    /// lowers efficiency, which would count against high tp) is not modeled.
    public static let matmulTile = (rows: 256.0, columns: 128.0)

    /// Fraction of peak memory bandwidth that streaming kernels reach: a device-to-device copy on H100 SXM measures
    /// 2,903 GB/s of 3,350 (86.7%) in Voltage Park's public H100 cluster benchmark; we use 85%.
    public static let memoryBandwidthEfficiency = 0.85

    /// Bytes of HBM traffic per stored activation byte in a layer's forward pass: each stored tensor is written by
    /// the op that makes it and read by the next (2). Backward moves twice the forward's bytes (the activation is
    /// read, its gradient written and read); recomputation repeats the forward. Applies to the activations that
    /// grow linearly in the sequence (the 34sbh-type terms of Korthikanti et al.); fused attention kernels keep the
    /// s^2 scores out of the count.
    public static let elementwiseTrafficPerActivationByte = 2.0

    /// Bytes of memory traffic per attention-score element (one query, one key, one head) when the scores are
    /// materialized, as in Megatron-LM 2021 (`FusedScaleMaskSoftmax`, then dropout; Korthikanti et al. 2022 §4.1
    /// list the stored s × s tensors: scores 2, probabilities 2, dropout mask 1, dropped probabilities 2 bytes).
    /// Forward: the fused scale-mask-softmax reads the scores and writes the probabilities (4), dropout reads them
    /// and writes its output and mask (5). Backward: dropout reads the gradient and mask and writes (5), the softmax
    /// backward reads the gradient and the probabilities and writes (6). The two batched products on each side
    /// write or read 2 bytes per element too; they are priced as the slower of that traffic and their FLOPs.
    /// FlashAttention (Dao et al. 2022) keeps all of this on chip.
    public static let softmaxTrafficPerScore = (forward: 4.0, backward: 6.0)
    public static let dropoutTrafficPerScore = (forward: 5.0, backward: 5.0)

    /// Share of the s × s attention tiles a causal FlashAttention kernel computes: the blocks above the diagonal
    /// are skipped (Dao 2023, "FlashAttention-2", §3.1.1), so half (plus the diagonal, negligible for s ≫ the tile).
    public static let causalTileFraction = 0.5

    /// FLOPs of a FlashAttention backward pass over its forward pass: the backward rebuilds the scores QKᵀ from the
    /// kept row statistics before its four products (dV, dP, dQ, dK), five products against the forward's two
    /// (Dao 2023, "FlashAttention-2", §3.1.2).
    public static let flashAttentionBackwardFactor = 2.5

    /// Streaming multiprocessors DeepSeek-V3's all-to-all kernels occupy while they run beside computation: "only 20
    /// SMs are sufficient to fully utilize the bandwidths of IB and NVLink" of an H800's 132 (DeepSeek-AI 2024,
    /// "DeepSeek-V3 Technical Report", §3.2.2). The computation they overlap runs on the rest.
    public static let communicationStreamingMultiprocessors = 20

    /// Bytes of memory traffic per FP32 logit in Megatron-LM's vocabulary-parallel cross entropy
    /// (`mpu/cross_entropy.py`, with the logits cast to FP32 as its GPT model does by default). Forward: the cast
    /// (read 2, write 4), the maximum (read 4), subtracting it (read and write 4), the exponential (4 + 4), the sum
    /// (4) and the division (4 + 4): 38. Backward: scaling by the loss gradient (4 + 4) and the cast back to 16
    /// bits (4 + 2): 14.
    public static let crossEntropyTrafficPerLogit = (forward: 38.0, backward: 14.0)

    /// Fraction of a link's per-direction bandwidth that NCCL collectives reach ("bus bandwidth"): nccl-tests on
    /// NVLink and InfiniBand typically report 75-85% of the wire rate; we use 80%.
    public static let linkEfficiency = 0.80

    /// Start-up latencies of one ring collective per NCCL protocol, and the share of the bus bandwidth each
    /// protocol moves, from NCCL 2.7's tuning model (src/graph/tuning.cc at v2.7.5, the NCCL of Megatron-LM's 2021
    /// runs; later versions raise the LL and LL128 start-ups by 3-4 us): `baseLat` Ring/Simple 8.4 us, Ring/LL128
    /// 10.0 us, Ring/LL 3.6 us. LL sends 8-byte words with an 8-byte flag each: NCCL prices it at a quarter of the
    /// bus bandwidth for all-reduce or across nodes and a third otherwise. LL128 sends 120 bytes of every 128: 92%,
    /// 70% when each node has one member ("sending and receiving through the same NIC").
    public static let collectiveBaseLatency = 8.4e-6
    public static let mediumMessageBaseLatency = 10.0e-6
    public static let lowLatencyBaseLatency = 3.6e-6
    public static let mediumMessageBandwidthFraction = 0.92
    public static let mediumMessageSingleNICBandwidthFraction = 0.7
    public static let lowLatencyAllReduceBandwidthFraction = 0.25
    public static let lowLatencyBandwidthFraction = 1.0 / 3.0

    /// Fraction of the data-parallel gradient reduction hidden behind the backward pass. Megatron-LM 2021's own
    /// (local) DDP reduced gradients after the backward pass (its later `--overlap-grad-reduce` hides most of it);
    /// we keep 0 so that predicted step times are not optimistic. PyTorch's DDP, which Megatron-LM 2021 also
    /// offered for pp = 1, is modeled apart: ``TrainingLayout/torchDDP``.
    public static let dataParallelOverlap = 0.0
}
