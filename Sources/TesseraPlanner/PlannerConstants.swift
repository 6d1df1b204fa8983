/// Every constant of the memory and time models, each with where it comes from.
public enum PlannerConstants {
    // MARK: Memory

    /// Mixed-precision Adam keeps 16 bytes per parameter: BF16/FP16 weights (2) and gradients (2) plus FP32
    /// master weights, momentum and variance (12) — Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward
    /// Training Trillion Parameter Models", §3.1 (K = 12, 16Ψ in total).
    public static let weightBytesPerParameter = 2.0
    public static let gradientBytesPerParameter = 2.0
    public static let optimizerBytesPerParameter = 12.0

    /// Activations are stored in 16 bits; dropout masks in 1 byte (Korthikanti et al. 2022, §4.1).
    public static let activationBytes = 2.0

    /// Fraction of device memory kept free for the CUDA context, cuBLAS/NCCL workspaces and allocator
    /// fragmentation: 10%, as vLLM's default `gpu_memory_utilization = 0.9`. Layouts must fit in the other 90%.
    public static let memoryReserveFraction = 0.10

    /// Serving keeps a prefill workspace for this many tokens at once (chunked prefill; vLLM's
    /// `max_num_batched_tokens` default with chunked prefill is 2048 in its V0 engine).
    public static let prefillChunkTokens = 2048

    // MARK: Time

    /// Fraction of the dense peak rate that matrix products reach inside a training or serving step on a GPU: one
    /// value for every model, layout and GPU. It is the one constant fitted to data: a round value chosen once
    /// against Narayanan et al. 2021 Table 1 as a whole (with it the predicted/published TFLOP/s ratios of the ten
    /// rows have a geometric mean of 0.98); the other terms (communication, bubbles, element-wise traffic) come from
    /// link and memory figures. For reference, large cuBLAS GEMMs alone reach 80-90% of peak; the gap is kernel
    /// launch gaps, tile quantization and the unfused small operations of a real step. The CPU profile overrides it
    /// with 1.0 because its rate is a measured sgemm rate, not a peak.
    public static let matmulEfficiency = 0.60

    /// Fraction of peak memory bandwidth that streaming kernels reach: a device-to-device copy on H100 SXM measures
    /// 2,903 GB/s of 3,350 (86.7%) in Voltage Park's public H100 cluster benchmark; we use 85%.
    public static let memoryBandwidthEfficiency = 0.85

    /// Bytes of HBM traffic per stored activation byte in a layer's forward pass: each stored tensor is written by
    /// the op that makes it and read by the next (2). Backward moves twice the forward's bytes (the activation is
    /// read, its gradient written and read); recomputation repeats the forward. Applies to the activations that
    /// grow linearly in the sequence (the 34sbh-type terms of Korthikanti et al.); fused attention kernels keep the
    /// s^2 scores out of the count.
    public static let elementwiseTrafficPerActivationByte = 2.0

    /// Fraction of a link's per-direction bandwidth that NCCL collectives reach ("bus bandwidth"): nccl-tests on
    /// NVLink and InfiniBand typically report 75-85% of the wire rate; we use 80%.
    public static let linkEfficiency = 0.80

    /// Fixed start-up latency of one collective: NCCL's Ring/Simple `baseLat` of 8.4 us (src/graph/tuning.cc).
    public static let collectiveBaseLatency = 8.4e-6
    /// NCCL's low-latency (LL) protocol for small messages: Ring/LL `baseLat` 3.6 us (src/graph/tuning.cc); it
    /// sends 8-byte words with an 8-byte flag each, half the bandwidth of Simple.
    public static let lowLatencyBaseLatency = 3.6e-6
    public static let lowLatencyBandwidthFraction = 0.5

    /// Fraction of the data-parallel gradient reduction hidden behind the backward pass. Megatron-LM 2021 reduced
    /// gradients after the backward pass (no overlap; its later `--overlap-grad-reduce` hides most of it); we keep
    /// 0 so that predicted step times are not optimistic.
    public static let dataParallelOverlap = 0.0
}
