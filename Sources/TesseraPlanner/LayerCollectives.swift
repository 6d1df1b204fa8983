/// The exposed tensor- and context-parallel collectives of one micro-batch through a piece's layers.
extension TrainingCostModel {
    /// Exposed context-parallel exchanges of `layers` layers for one micro-batch whose attention takes
    /// `attentionForward` forward (0 without cp). Ring: each block's transfer hides behind the attention of the block
    /// before. All-gather: the gather forward and the reduce-scatter of the key/value gradients backward are exposed;
    /// the gathered keys and values were freed after the forward (only the computing layer's are held,
    /// ``rankActivations``), so the backward gathers them again before reduce-scattering their gradients: two
    /// exchanges (Llama Team 2024 §3.3.2 keeps the all-gather "exposed in the critical path").
    func contextParallelTime(
        _ rates: LayoutRates, attentionForward: Double, layers: Double, extraForward: Double
    ) -> Double {
        guard rates.layout.cp > 1 else { return 0 }
        let exchange = rates.contextExchange
        let perLayer = attentionForward / max(layers, 1)
        let ring = rates.layout.contextParallelKind == .ring
        let exposedForward = ring ? max(0, exchange - perLayer) : exchange
        let exposedBackward = ring ? max(0, 2 * exchange - 2 * perLayer) : 2 * exchange
        return layers * ((1 + extraForward) * exposedForward + exposedBackward)
    }

    /// Tensor-parallel communication of `layers` layers for one micro-batch: two all-reduces (or all-gather and
    /// reduce-scatter pairs) per layer forward, two backward, two more when full recomputation repeats the forward
    /// (Narayanan et al. 2021 §3.2; Korthikanti et al. 2022 §4.2.2). With ``CommunicationOverlap/tensorParallel``
    /// each pair hides behind half of the layer's products in its pass (the QKV and projection products around
    /// attention, the two MLP products), chunked over the tp ranks, when the tp group sits in one node. An MoE
    /// layer's MLP pair runs over the expert tp group (``TrainingLayout/etp``). Its shared experts are a dense MLP
    /// split over the tp group whatever etp is, so they add a pair of their own over tp, hidden (when overlapped)
    /// behind their own products: Megatron-Core's `SharedExpertMLP` is an `MLP` on the tp group that all-gathers
    /// its sequence-parallel input and reduce-scatters its output (`moe/shared_experts.py`,
    /// `gather_from_sequence_parallel_region` / `reduce_scatter_to_sequence_parallel_region`), and DeepSeek's
    /// `inference/model.py` builds the shared experts as the column/row-parallel `MLP` of the dense layers.
    func layerTensorParallel(
        _ rates: LayoutRates, forwardProducts: Double, backwardProducts: Double, layers: LayerSums,
        extraForward: Double
    ) -> Double {
        let count = layers.count
        func perLayer(_ pair: Double, chunks: Int, share: Double) -> Double {
            guard rates.tensorParallelOverlapped, count > 0 else { return (2 + extraForward) * pair }
            let forward = CommunicationOverlap.exposed(pair, behind: forwardProducts * share, chunks: chunks)
            let backward = CommunicationOverlap.exposed(pair, behind: backwardProducts * share, chunks: chunks)
            return (1 + extraForward) * forward + backward
        }
        let half = 1 / (2 * count), tp = rates.layout.tp
        let shared = job.model.sharedExpertMatrixParameters
        let sharedPairs = shared > 0 && layers.moeLayers > 0
            ? layers.moeLayers * perLayer(rates.tensorAllReduce, chunks: tp, share: shared / layers.matrices) : 0
        return (2 * count - layers.moeLayers) * perLayer(rates.tensorAllReduce, chunks: tp, share: half)
            + layers.moeLayers * perLayer(rates.expertTensorAllReduce, chunks: rates.layout.etp, share: half)
            + sharedPairs
    }
}
