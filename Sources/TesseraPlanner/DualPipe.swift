/// DeepSeek-V3's DualPipe schedule in the time model (``TrainingLayout/dualPipe``; DeepSeek-AI 2024, "DeepSeek-V3
/// Technical Report", §3.2.1 and Table 2).
extension PieceTime {
    /// Term by term, the mean of `a` and `b`: a DualPipe rank's cost per micro-batch when half the micro-batches
    /// run through each of its two chunks.
    static func mean(_ a: PieceTime, _ b: PieceTime) -> PieceTime {
        var time = PieceTime()
        time.compute = (a.compute + b.compute) / 2
        time.recompute = (a.recompute + b.recompute) / 2
        time.tensorParallel = (a.tensorParallel + b.tensorParallel) / 2
        time.contextParallel = (a.contextParallel + b.contextParallel) / 2
        time.expertParallel = (a.expertParallel + b.expertParallel) / 2
        time.pipelineTransfers = (a.pipelineTransfers + b.pipelineTransfers) / 2
        time.multiTokenPrediction = (a.multiTokenPrediction + b.multiTokenPrediction) / 2
        time.passes = StageCosts(
            forward: (a.passes.forward + b.passes.forward) / 2,
            backwardInput: (a.passes.backwardInput + b.passes.backwardInput) / 2,
            backwardWeight: (a.passes.backwardWeight + b.passes.backwardWeight) / 2)
        return time
    }
}

extension TrainingCostModel {
    /// The ranks of a DualPipe pipeline of `shape` (one chunk per rank and direction): rank r runs model chunk r for
    /// the micro-batches entering at the front and chunk p − 1 − r for those entering at the back (DeepSeek-V3
    /// report, §3.2.1), half each, so its cost per micro-batch is the mean of the two.
    func dualPipeRanks(_ shape: PipelineShape, _ rates: LayoutRates) -> [PieceTime] {
        let chunks = chunkPieces(PipelineShape(stages: shape.stages, virtualStages: 1))
        var pairs: [(PipelinePiece, PipelinePiece)] = []
        for r in 0..<(shape.stages / 2) where !pairs.contains(where: {
            $0.0.isClose(to: chunks[r]) && $0.1.isClose(to: chunks[shape.stages - 1 - r])
        }) {
            pairs.append((chunks[r], chunks[shape.stages - 1 - r]))
        }
        return pairs.map { PieceTime.mean(pieceTime($0.0, rates), pieceTime($0.1, rates)) }
    }

    /// DualPipe's bubble (DeepSeek-V3 report, Table 2): (p/2 − 1)(F&B + B − 3W), with B the whole backward of a chunk
    /// and F&B a forward and a backward chunk run side by side, their communication hidden, so F + B of compute:
    /// (p/2 − 1)(F + 2B_input − W) of the slowest rank's `passes`.
    func dualPipeBubble(stages: Int, _ passes: StageCosts) -> Double {
        Double(stages / 2 - 1) * max(0, passes.forward + 2 * passes.backwardInput - passes.backwardWeight)
    }

    /// What computation loses while `seconds` of overlapped collectives run beside it: their kernels hold
    /// ``PlannerConstants/communicationStreamingMultiprocessors`` of the GPU's SMs (DeepSeek-V3 report §3.2.2: 20 SMs
    /// "are sufficient to fully utilize the bandwidths of IB and NVLink"), so the computation sharing that time runs
    /// at (SMs − 20)/SMs of its rate and finishes `seconds` × 20/SMs later. 0 on a device without SMs.
    func computeLostToCollectives(running seconds: Double) -> Double {
        guard let sms = job.accelerator.streamingMultiprocessors, sms > 0 else { return 0 }
        return seconds * Double(PlannerConstants.communicationStreamingMultiprocessors) / Double(sms)
    }
}

/// A pipeline stage as one rank holds it: its transformer layers, whether it has the embedding or the head, and how
/// many micro-batches' activations it keeps at the rank's peak.
package struct HeldStage {
    package var layers: Range<Int>
    package var embedding: Bool
    package var head: Bool
    package var inFlight: Double

    package init(layers: Range<Int>, embedding: Bool, head: Bool, inFlight: Double) {
        (self.layers, self.embedding, self.head, self.inFlight) = (layers, embedding, head, inFlight)
    }
}

extension TrainingCostModel {
    /// Memory of the fullest DualPipe rank. Rank r holds stage r, which the micro-batches entering at the front
    /// reach r-th, and stage p − 1 − r, which those entering at the back reach (p − 1 − r)-th (DeepSeek-V3 report
    /// §3.2.1; with the shallowest layers, the embedding, and the deepest, the head, on rank 0 as §3.2.3 says). Each
    /// direction is a 1F1B pipeline of its own, so stage position k holds p − k micro-batches at the peak: rank r
    /// holds p − r micro-batches of stage r and r + 1 of stage p − 1 − r: p + 1 in all, Table 2's "PP + 1" for every
    /// rank, split by where the rank sits in each direction (the model charged p + 1 of the heavier stage before).
    /// Each direction is capped at its m/2 micro-batches. Rank p − 1 − r holds the same two stages with the same
    /// counts, so ranks 0..<p/2 cover the pipeline.
    package func dualPipeMemory(_ layout: TrainingLayout, microBatches m: Int) -> MemoryBreakdown {
        let p = layout.pp
        let counts = Self.chunkLayerCounts(layers: layers, chunks: p, embeddingAndHeadAsLayers: embeddingAndHeadAsLayers,
                                           predictionModules: predictionModules)
        var starts = [0]
        for count in counts { starts.append(starts.last! + count) }
        let perDirection = Double(m) / 2
        var fullest: MemoryBreakdown?
        for r in 0..<(p / 2) {
            let back = p - 1 - r
            let stages = [
                HeldStage(layers: starts[r]..<starts[r + 1], embedding: r == 0, head: false,
                          inFlight: min(Double(p - r), perDirection)),
                HeldStage(layers: starts[back]..<starts[back + 1], embedding: false, head: r == 0,
                          inFlight: min(Double(r + 1), perDirection)),
            ]
            let memory = rankMemory(layout, holding: stages, microBatches: m)
            if memory.total > fullest?.total ?? -1 { fullest = memory }
        }
        return fullest ?? MemoryBreakdown(weights: 0, gradients: 0, optimizer: 0, activations: 0)
    }
}
