extension SoftwareProfile {
    /// Meta's training software as the Llama 3 paper describes it (Llama Team, AI @ Meta 2024, "The Llama 3 Herd of
    /// Models", §3.3.2): FSDP that "shards optimizer states and gradients" but does not reshard the parameters after
    /// the forward pass (ZeRO-2 memory, also under the pipeline), its weights prefetched and gradients reduced
    /// asynchronously (dp overlapped); the interleaved schedule with asynchronous point-to-point communication (pp
    /// overlapped) over a split in which "the first model chunk on the first stage has only the embedding, and the
    /// last model chunk on the last stage has only output projection and loss calculation"
    /// (``TrainingSearchSpace/embeddingAndHeadAsLayers``); all-gather context parallelism; FlashAttention and
    /// sequence-parallel tp. The paper describes no overlap of the tensor-parallel collectives, so they are paid in
    /// full. No expert parallelism (Llama 3 is dense).
    public static var llama3: SoftwareProfile {
        var space = TrainingSearchSpace()
        space.schedules = [.oneForwardOneBackward, .interleaved]
        space.zeroStages = [2]
        space.shardedStatesWithPipeline = true
        space.embeddingAndHeadAsLayers = true
        space.float32GradientReduction = true
        space.contextParallelKind = .allGather
        space.expertParallelSizes = [1]
        space.expertTensorParallel = false
        space.overlap = CommunicationOverlap(tensorParallel: false, dataParallel: true, pipeline: true)
        return SoftwareProfile(
            name: "llama3",
            summary: "Meta's software of the Llama 3 paper (§3.3.2): FSDP sharding gradients and optimizer states "
                + "(ZeRO-2, overlapped), interleaved pipeline with the embedding and head as a layer each and async "
                + "transfers, all-gather context parallelism, FlashAttention; tp collectives not overlapped; no ep",
            space: space, contextParallelMissing: nil,
            expertParallelMissing: "the Llama 3 paper describes no expert parallelism")
    }

    /// DeepSeek's HAI-LLM as the DeepSeek-V3 report describes it (DeepSeek-AI 2024, §3.2): pipeline and expert
    /// parallelism with ZeRO-1 data parallelism and no tensor parallelism in its run; DualPipe, which hides the
    /// expert all-to-alls and the pipeline transfers behind the computation of another micro-batch (§3.2.1) with 20
    /// SMs given to communication (§3.2.2, ``CommunicationOverlap/expertParallel``); node-forwarded dispatch under
    /// node-limited routing, in FP8 when the products are (§3.2.2, §3.3.3, ``ExpertDispatch/nodeForwarded``);
    /// DualPipe's schedule itself, its bubble, its two chunks per rank and its p + 1 micro-batches in flight (§3.2.1,
    /// Table 2, ``TrainingLayout/dualPipe``); recomputation of RMSNorm and the MLA up-projections with the linear
    /// layers' inputs cached in FP8 (§3.2.3, §3.3.3, ``TrainingLayout/lowPrecisionActivations``).
    public static var deepSeekV3: SoftwareProfile {
        var space = TrainingSearchSpace()
        space.schedules = [.oneForwardOneBackward]
        space.dualPipe = true
        space.lowPrecisionActivations = true
        space.deepSeekStatePrecision = true
        space.zeroStages = [0, 1]
        space.contextParallelSizes = [1]
        space.expertDispatch = .nodeForwarded
        // The report overlaps the expert all-to-alls and the pipeline transfers (DualPipe, §3.2.1) and calls tensor
        // parallelism "costly", trained without it (§3.2.3); it describes no overlap of tp collectives, so a tp > 1
        // layout pays them in full (as ``llama3``'s).
        space.overlap = CommunicationOverlap(tensorParallel: false, dataParallel: true, pipeline: true, expertParallel: true)
        return SoftwareProfile(
            name: "deepseek-v3",
            summary: "DeepSeek's HAI-LLM of the DeepSeek-V3 report (§3.2-3.3): ZeRO-1, pp and ep with DualPipe (its "
                + "bubble, two chunks per rank) hiding the expert all-to-alls (20 SMs for communication), node-forwarded "
                + "FP8 dispatch, FP8 activation caching with RMSNorm and MLA up-projections recomputed; tp collectives "
                + "not overlapped",
            space: space, contextParallelMissing: "the DeepSeek-V3 report describes no context parallelism",
            expertParallelMissing: nil)
    }
}
