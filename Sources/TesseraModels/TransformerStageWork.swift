import TesseraNN
import TesseraParallel

/// One rank's transformer chunks as the ``PipelineStageWork`` a ``PipelineExecutor`` drives: a backend of
/// ``ChunkState``s per chunk, the step's micro-batches and loss scale, and the calls that tell the
/// data-parallel reducer which gradients are final.
///
/// Gradients become final in backward order: during the backward of a chunk's last micro-batch, each
/// block's parameters and everything after them in the chunk (the final norm and the head) are final once
/// the block is done; the embedding is final when the chunk is. With a split backward, the weight-gradient
/// pass of the last micro-batch finalizes the whole chunk.
///
/// A mixture of experts trained with router losses on a pipeline: the losses couple every layer's routers
/// (transformers' load-balancing loss sums the statistics of all of them), so each chunk's output carries the running
/// sum of its and the earlier chunks' router statistics (summed over dp) behind the activation, the last chunk computes
/// the losses over every layer, and its gradient coefficients travel back behind the activation gradients to every
/// chunk's routers.
final class TransformerStageWork: PipelineStageWork {
    let model: Transformer
    let reducer: DataParallelReducer
    private(set) var microBatches: [MicroBatch] = []
    private var lossScale: Float = 0
    /// Σ of the token losses of this step's micro-batches (last model chunk only).
    private(set) var lossSum = 0.0
    /// Σ over micro-batches of the router losses' share of the objective and of the load-balancing loss, each
    /// times the micro-batch's local tokens (last model chunk of a mixture of experts), so that sums over data-parallel
    /// ranks weigh each micro-batch by its tokens.
    private(set) var routerLossSum = 0.0, balanceSum = 0.0
    /// Each local mixture-of-experts layer's router statistics, summed over the step's micro-batches.
    private(set) var expertLoad: [Int: RouterStatistics] = [:]
    private var states: [Key: ChunkState] = [:]
    private var pools: [[ChunkState]]
    /// States ever created per chunk (what the pools hold at most).
    private(set) var allocatedStates: [Int]
    /// Parameter indices of each local chunk.
    private let chunkParameters: [Range<Int>]
    /// Global layer → index of its first parameter.
    private let firstParameterOfLayer: [Int: Int]
    /// Floats of router statistics (forward) or gradient coefficients (backward) behind each boundary's activation:
    /// ``RouterStatistics/packedCount(experts:)`` when they travel along the pipeline, else 0.
    private let carriedRouterFloats: Int

    private struct Key: Hashable {
        let microBatch: Int, chunk: Int
    }

    /// - Parameter carriesRouterStatistics: whether router statistics travel along the pipeline (a mixture of experts
    ///   trained with router losses on more than one stage).
    init(model: Transformer, reducer: DataParallelReducer, carriesRouterStatistics: Bool = false) {
        self.model = model
        self.reducer = reducer
        let experts = model.config.moe?.router.experts ?? 0
        carriedRouterFloats = carriesRouterStatistics && experts > 0 ? RouterStatistics.packedCount(experts: experts) : 0
        pools = model.chunks.map { _ in [] }
        allocatedStates = model.chunks.map { _ in 0 }
        var index: [String: Int] = [:]
        for (i, p) in model.store.parameters.enumerated() { index[p.name] = i }
        let config = model.config
        var layers: [Int: Int] = [:]
        var starts: [Int] = []
        for chunk in model.chunks {
            for layer in chunk.layers { layers[layer] = index[config.name(of: .block(layer: layer, .attentionNorm, .weight))] }
            // (A first chunk whose embedding is kept in its stored type starts the store.)
            starts.append(chunk.isFirst ? index[config.tokenEmbeddingName] ?? 0 : layers[chunk.layers.lowerBound]!)
        }
        firstParameterOfLayer = layers
        chunkParameters = starts.indices.map { starts[$0]..<(($0 + 1 < starts.count) ? starts[$0 + 1] : model.store.parameters.count) }
    }

    /// Starts a step over `microBatches`, every token's loss scaled by `lossScale`.
    func begin(_ microBatches: [MicroBatch], lossScale: Float) {
        self.microBatches = microBatches
        self.lossScale = lossScale
        lossSum = 0
        routerLossSum = 0
        balanceSum = 0
        expertLoad = [:]
    }

    func boundaryElements(microBatch: Int) -> Int { activationElements(microBatch) + carriedRouterFloats }

    private func activationElements(_ microBatch: Int) -> Int {
        model.context.localRows(tokens: microBatches[microBatch].tokenCount) * model.config.hiddenSize
    }

    private var experts: Int { model.config.moe?.router.experts ?? 0 }

    func forward(microBatch: Int, chunk: Int, input: UnsafePointer<Float>?) throws -> UnsafeBufferPointer<Float>? {
        let layers = model.chunks[chunk]
        let state = pools[chunk].popLast() ?? {
            allocatedStates[chunk] += 1
            return layers.makeState()
        }()
        states[Key(microBatch: microBatch, chunk: chunk)] = state
        let carries = carriedRouterFloats > 0, activation = activationElements(microBatch)
        let earlier = carries ? input.map { RouterStatistics(packed: $0 + activation, experts: experts) } : nil
        let output = try layers.forward(microBatches[microBatch], input: input, state: state,
                                        lossScale: layers.isLast || carries ? lossScale : nil, earlierRouting: earlier)
        if layers.isLast { lossSum += state.lossSum }
        if let losses = state.routerLosses {
            let tokens = Double(microBatches[microBatch].tokenCount)
            if layers.isLast {
                routerLossSum += losses.objective * tokens
                balanceSum += losses.balance * tokens
            }
            for (index, statistics) in state.routerStatistics.enumerated() {
                expertLoad[layers.layers.lowerBound + index, default: RouterStatistics(experts: statistics.kept.count)].add(statistics)
            }
        }
        guard carries, let output else { return output?.elements }
        var running = earlier ?? RouterStatistics(experts: experts)
        for statistics in state.routerStatistics { running.add(statistics) }
        return appending(output.elements, into: state.boundaryOutput, tail: running.pack(into:))
    }

    func backward(microBatch: Int, chunk: Int, outputGradient: UnsafeMutablePointer<Float>?, mode: BackwardMode,
                  finalizesGradients: Bool) throws -> UnsafeBufferPointer<Float>? {
        let layers = model.chunks[chunk], parameters = chunkParameters[chunk]
        let afterBlock: ((Int) throws -> Void)? = finalizesGradients && mode == .full ? { [self] layer in
            try reducer.markFinal(parameters: firstParameterOfLayer[layer]!..<parameters.upperBound)
        } : nil
        let chunkState = state(microBatch, chunk), carries = carriedRouterFloats > 0
        if carries, let outputGradient {
            chunkState.routerLossGradient = RouterLossGradient(packed: outputGradient + activationElements(microBatch), experts: experts)
        }
        let gradient = try layers.backward(outputGradient: outputGradient, state: chunkState, mode: mode, afterBlock: afterBlock)
        if finalizesGradients { try reducer.markFinal(parameters: parameters) }
        guard carries, let gradient, let coefficients = chunkState.routerLossGradient else { return gradient?.elements }
        return appending(gradient.elements, into: chunkState.boundaryGradient, tail: coefficients.pack(into:))
    }

    /// `values` followed by ``carriedRouterFloats`` floats that `tail` writes (zeros past what it writes), in `buffer`.
    private func appending(_ values: UnsafeBufferPointer<Float>, into buffer: FloatBuffer,
                           tail: (UnsafeMutablePointer<Float>) -> Void) -> UnsafeBufferPointer<Float> {
        buffer.reserve(values.count + carriedRouterFloats)
        buffer.pointer.update(from: values.baseAddress!, count: values.count)
        (buffer.pointer + values.count).update(repeating: 0, count: carriedRouterFloats)
        tail(buffer.pointer + values.count)
        return buffer.elements
    }

    func backwardWeights(microBatch: Int, chunk: Int, finalizesGradients: Bool) throws {
        model.chunks[chunk].backwardWeights(state: state(microBatch, chunk))
        if finalizesGradients { try reducer.markFinal(parameters: chunkParameters[chunk]) }
    }

    func savedActivationBytes(microBatch: Int, chunk: Int) -> Int { state(microBatch, chunk).savedActivationBytes }

    func release(microBatch: Int, chunk: Int) {
        guard let state = states.removeValue(forKey: Key(microBatch: microBatch, chunk: chunk)) else { return }
        pools[chunk].append(state)
    }

    private func state(_ microBatch: Int, _ chunk: Int) -> ChunkState {
        guard let state = states[Key(microBatch: microBatch, chunk: chunk)] else {
            preconditionFailure("micro-batch \(microBatch) of chunk \(chunk) has no forward state")
        }
        return state
    }
}
