/// Pipeline shape (stages, chunks per stage) → which layers each model chunk and each rank holds, as sums the time
/// model is linear in.

/// Sums over a set of transformer layers (or prediction modules) of what one micro-batch's time on them depends on.
struct LayerSums: Equatable {
    var count = 0.0
    /// Active matrix parameters (a token's matrix FLOPs are twice this).
    var matrices = 0.0
    /// The part of `matrices` tensor parallelism does not split (``ModelArchitecture/unsplitMatrixParameters(_:)``).
    var unsplit = 0.0
    /// Stored activation bytes per token that tensor parallelism splits only with sequence parallelism, and those it
    /// always splits (``ModelArchitecture/linearActivationBytesPerLayer(layer:tokens:)``).
    var replicated = 0.0
    var split = 0.0
    var moeLayers = 0.0

    static func += (lhs: inout LayerSums, rhs: LayerSums) {
        lhs.count += rhs.count
        lhs.matrices += rhs.matrices
        lhs.unsplit += rhs.unsplit
        lhs.replicated += rhs.replicated
        lhs.split += rhs.split
        lhs.moeLayers += rhs.moeLayers
    }

    /// Forward FLOPs of these matrices for one micro-batch of `tokens` tokens on one tp rank of `layout`. The unsplit
    /// ones (latent down-projections, routers) run on every token of every tp rank without sequence parallelism, and
    /// with it on the rank's 1/tp of the tokens (Megatron-Core's MLA projects the sequence-parallel tokens and gathers
    /// the narrow latents; recalled from its `multi_latent_attention.py`, not re-read).
    func matrixFLOPs(tokens: Double, _ layout: TrainingLayout) -> Double {
        let t = Double(layout.tp)
        guard !layout.sequenceParallel else { return 2 * tokens * matrices / t }
        return 2 * tokens * ((matrices - unsplit) / t + unsplit)
    }

    func isClose(to other: LayerSums) -> Bool {
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1) }
        return close(count, other.count) && close(matrices, other.matrices) && close(unsplit, other.unsplit)
            && close(replicated, other.replicated)
            && close(split, other.split) && close(moeLayers, other.moeLayers)
    }
}

/// What one model chunk, or one pipeline rank (its chunks together), does per micro-batch.
struct PipelinePiece: Equatable {
    var layers = LayerSums()
    /// Holds the embedding (model chunk 0).
    var embedding = false
    /// Holds the final norm, LM head and loss (the last model chunk).
    var head = false
    /// The multi-token-prediction modules the head's chunk runs after it (``ModelArchitecture/predictionModules``):
    /// their blocks and projections, apart from `layers`; each repeats the head's pass and its loss.
    var prediction = LayerSums()
    /// Point-to-point exchanges per micro-batch: one after the forward (send the activation on, receive a gradient)
    /// and one after the backward (send the gradient back, receive the next activation) for each neighbouring
    /// chunk, so 2 for a middle chunk, 1 for the first and the last, 0 without a pipeline.
    var exchanges = 0

    static func += (lhs: inout PipelinePiece, rhs: PipelinePiece) {
        lhs.layers += rhs.layers
        lhs.embedding = lhs.embedding || rhs.embedding
        lhs.head = lhs.head || rhs.head
        lhs.prediction += rhs.prediction
        lhs.exchanges += rhs.exchanges
    }

    func isClose(to other: PipelinePiece) -> Bool {
        embedding == other.embedding && head == other.head && exchanges == other.exchanges
            && layers.isClose(to: other.layers) && prediction.isClose(to: other.prediction)
    }
}

/// A pipeline of `stages` ranks with `virtualStages` model chunks each.
struct PipelineShape: Hashable {
    var stages: Int
    var virtualStages: Int
}

extension TrainingCostModel {
    /// Layers per model chunk when `layers` are split over `chunks` consecutive chunks: ⌊L/chunks⌋ each, the
    /// remainder one apiece to the first chunk, the last, then the second, third, … (Megatron-LM 2021 requires an
    /// even split; uneven splits put the extra layers where memory and time are already highest, so the fullest
    /// stage has ⌈L/chunks⌉). With `embeddingAndHeadAsLayers` the same split is made of L + 2 slots and the
    /// embedding takes one slot of the first chunk, the head one of the last (``TrainingSearchSpace/embeddingAndHeadAsLayers``;
    /// a chunk may then hold no layer). Each multi-token-prediction module is a transformer block that runs after
    /// the head (``ModelArchitecture/predictionModules``), so it takes a slot of the last chunk as a layer does: 61
    /// layers and DeepSeek-V3's one module over 16 chunks are 62 blocks, 4 on the fullest chunk, not 4 layers and
    /// the module. A last chunk with fewer slots than modules passes the shortfall back to the chunks before it.
    package static func chunkLayerCounts(
        layers: Int, chunks: Int, embeddingAndHeadAsLayers: Bool = false, predictionModules: Int = 0
    ) -> [Int] {
        let slots = pipelineSlots(layers: layers, embeddingAndHeadAsLayers: embeddingAndHeadAsLayers,
                                  predictionModules: predictionModules)
        var counts = Array(repeating: slots / chunks, count: chunks)
        let order = chunks > 1 ? [0, chunks - 1] + Array(1..<(chunks - 1)) : [0]
        for index in order.prefix(slots % chunks) { counts[index] += 1 }
        let reserved = embeddingAndHeadAsLayers ? 1 : 0
        counts[0] -= reserved
        counts[chunks - 1] -= reserved + predictionModules
        for index in stride(from: chunks - 1, to: 0, by: -1) where counts[index] < 0 {
            counts[index - 1] += counts[index]
            counts[index] = 0
        }
        return counts
    }

    /// The slots a pipeline split divides: the layers, the embedding and the head when they count as layers, and
    /// the prediction modules.
    package static func pipelineSlots(layers: Int, embeddingAndHeadAsLayers: Bool, predictionModules: Int) -> Int {
        layers + (embeddingAndHeadAsLayers ? 2 : 0) + predictionModules
    }

    /// The model chunks of `shape`, in model order (chunk c·p + r on rank r).
    func chunkPieces(_ shape: PipelineShape) -> [PipelinePiece] {
        Self.chunkPieces(
            shape, layers: layers, predictionModules: predictionModules, embeddingAndHeadAsLayers: embeddingAndHeadAsLayers,
            sums: Self.layerSums(
            activeMatrices: activeMatrixParameters, unsplit: unsplitParameters, moe: moeLayers,
            replicated: replicatedActivationPerToken, split: splitActivationPerToken))
    }

    /// Sums over a range of layers from the per-layer prefix sums (index i holds the sum of layers 0..<i).
    static func layerSums(
        activeMatrices: [Double], unsplit: [Double], moe: [Double], replicated: [Double], split: [Double]
    ) -> (Range<Int>) -> LayerSums {
        { range in
            func sum(_ prefix: [Double]) -> Double { prefix[range.upperBound] - prefix[range.lowerBound] }
            return LayerSums(count: Double(range.count), matrices: sum(activeMatrices), unsplit: sum(unsplit),
                             replicated: sum(replicated), split: sum(split), moeLayers: sum(moe))
        }
    }

    /// The distinct ranks of `shape` (precomputed for the shapes the search generates).
    func rankPieces(_ shape: PipelineShape) -> [PipelinePiece] {
        pipelineRanks[shape] ?? Self.distinct(Self.ranks(of: chunkPieces(shape), stages: shape.stages))
    }

    private static func chunkPieces(
        _ shape: PipelineShape, layers: Int, predictionModules: Int, embeddingAndHeadAsLayers: Bool,
        sums: (Range<Int>) -> LayerSums
    ) -> [PipelinePiece] {
        let chunks = shape.stages * shape.virtualStages
        var start = 0
        let counts = chunkLayerCounts(layers: layers, chunks: chunks, embeddingAndHeadAsLayers: embeddingAndHeadAsLayers,
                                      predictionModules: predictionModules)
        return counts.enumerated().map { index, count in
            defer { start += count }
            let neighbours = chunks == 1 ? 0 : (index == 0 || index == chunks - 1 ? 1 : 2)
            let head = index == chunks - 1
            return PipelinePiece(
                layers: sums(start..<(start + count)), embedding: index == 0, head: head,
                prediction: head ? sums(layers..<(layers + predictionModules)) : LayerSums(), exchanges: neighbours)
        }
    }

    private static func ranks(of chunks: [PipelinePiece], stages: Int) -> [PipelinePiece] {
        var ranks = Array(repeating: PipelinePiece(), count: stages)
        for (index, chunk) in chunks.enumerated() { ranks[index % stages] += chunk }
        return ranks
    }

    private static func distinct(_ pieces: [PipelinePiece]) -> [PipelinePiece] {
        var kept: [PipelinePiece] = []
        for piece in pieces where !kept.contains(where: { $0.isClose(to: piece) }) { kept.append(piece) }
        return kept
    }

    /// The distinct ranks of every shape the search generates: any stage count up to the layers without virtual
    /// stages, and 2-8 virtual stages where stages × virtual stages divides the slots (``pipelineSlots``).
    static func distinctRanks(
        layers: Int, predictionModules: Int, embeddingAndHeadAsLayers: Bool, sums: (Range<Int>) -> LayerSums
    ) -> [PipelineShape: [PipelinePiece]] {
        var table: [PipelineShape: [PipelinePiece]] = [:]
        let slots = pipelineSlots(layers: layers, embeddingAndHeadAsLayers: embeddingAndHeadAsLayers,
                                  predictionModules: predictionModules)
        for stages in 1...max(layers, 1) {
            for virtualStages in 1...8 where virtualStages == 1 || slots % (stages * virtualStages) == 0 {
                let shape = PipelineShape(stages: stages, virtualStages: virtualStages)
                let pieces = chunkPieces(
                    shape, layers: layers, predictionModules: predictionModules,
                    embeddingAndHeadAsLayers: embeddingAndHeadAsLayers, sums: sums)
                table[shape] = distinct(ranks(of: pieces, stages: stages))
            }
        }
        return table
    }
}
