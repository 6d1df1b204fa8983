import TesseraNN
import TesseraParallel
import TesseraTensor

/// A contiguous range of blocks on one rank: the unit a pipeline executor schedules. The first chunk of
/// the model also owns the embeddings; the last owns the final norm, the LM head and the loss. With one
/// chunk it is the whole model.
///
/// Activations between chunks are `[localRows, hidden]` with `localRows = tokens` (or `tokens / tp`
/// with sequence parallelism). Passes are explicit and keep their per-micro-batch data in a
/// ``ChunkState``, so several micro-batches can be in flight.
public final class TransformerChunk: @unchecked Sendable {
    public let config: TransformerConfig
    public let context: LayerContext
    /// Global indices of this chunk's blocks.
    public let layers: Range<Int>
    public let blocks: [TransformerBlock]
    public let embedding: VocabParallelEmbedding?
    public let positionEmbedding: Parameter?
    public let finalNorm: Normalization?
    public let head: ColumnParallelLinear?
    public let crossEntropy: VocabParallelCrossEntropy?
    /// Transient scratch shared by every state of this chunk.
    public let workspace = Workspace()
    /// What the forward pass keeps for the backward pass; set before the first ``makeState()``.
    public var recomputation: Recomputation = .none
    /// Selective recomputation: the attention output every block and micro-batch shares.
    let attentionCore = ParallelAttention.State()
    /// Full recomputation: the block states the backward pass rebuilds, alternately.
    let recomputedBlocks = [TransformerBlock.State(), TransformerBlock.State()]

    public var isFirst: Bool { embedding != nil }
    public var isLast: Bool { head != nil }
    var hidden: Int { config.hiddenSize }

    /// Builds the layers of `layers` (with the embedding when the range starts at 0 and the head when it
    /// ends at the last layer) from the parameters in `store` and the weights kept in their stored type
    /// (`stored`, by parameter name: this rank's shard as ``LayerWeight/stored(_:)`` describes it).
    /// - Throws: ``ExpertError`` when the experts do not split over the expert-parallel group.
    ///
    /// Longer than 80 lines on purpose: its nested helpers (`parameter`, `weight`, `column`, `row`) resolve every
    /// layer's names against `store` and `stored`; apart, each piece would need both and the config passed along.
    init(config: TransformerConfig, context: LayerContext, layers: Range<Int>, store: ParameterStore,
         stored: [String: QuantizedMatrix] = [:]) throws {
        self.config = config
        self.context = context
        self.layers = layers
        func parameter(_ name: String) -> Parameter {
            guard let p = store[name] else { preconditionFailure("parameter \(name) was not allocated") }
            return p
        }
        func parameter(_ role: ParameterRole) -> Parameter { parameter(config.name(of: role)) }
        func weight(_ name: String) -> LayerWeight { stored[name].map { .stored($0) } ?? .parameter(parameter(name)) }
        func norm(_ weight: ParameterRole, _ bias: ParameterRole) -> Normalization {
            Normalization(kind: config.norm.kind, weight: parameter(weight),
                          bias: config.family.norm == .layerNorm ? parameter(bias) : nil, epsilon: config.norm.epsilon)
        }
        let family = config.family, layout = family.weightLayout
        let h = config.hiddenSize, d = config.attention.headDim
        let (tp, rank) = (context.tp.size, context.tp.rank), group = config.attention.heads / config.attention.kvHeads
        let queryHeads = config.queryHeads(tp: tp, rank: rank), kvHeads = config.keyValueHeads(tp: tp, rank: rank)
        // With replicated key/value weights, this rank computes only the heads its queries read.
        let kvOutputs = config.replicatesKeyValueHeads(tp: tp) ? kvHeads.lowerBound * d..<kvHeads.upperBound * d : nil
        // Angles of the first positions precomputed once per chunk (the same values as computing them per call: a
        // decoding step otherwise spends more on cos and sin than on the rotation); at most 8192 positions, 4 MiB at
        // head dimension 128, later positions computed per call.
        let rotary = config.attention.ropeTheta.map {
            RotaryEmbedding(headDim: d, theta: $0, cachedPositions: min(config.contextLength, 8192))
        }
        blocks = try layers.map { layer in
            func weights(_ module: BlockModule) -> (weight: LayerWeight, bias: Parameter?) {
                (weight(config.name(of: .block(layer: layer, module, .weight))),
                 family.hasBias(module) ? parameter(.block(layer: layer, module, .bias)) : nil)
            }
            func column(_ modules: [BlockModule]) -> ColumnParallelLinear {
                ColumnParallelLinear(parts: modules.map { module in
                    let (weight, bias) = weights(module)
                    return .init(weight: weight, bias: bias, layout: layout, inFeatures: h,
                                 outputs: module == .key || module == .value ? kvOutputs : nil)
                }, context: context)
            }
            func row(_ module: BlockModule) -> RowParallelLinear {
                let (weight, bias) = weights(module)
                return RowParallelLinear(weight: weight, bias: bias, layout: layout, context: context)
            }
            func blockNorm(_ module: BlockModule) -> Normalization {
                norm(.block(layer: layer, module, .weight), .block(layer: layer, module, .bias))
            }
            let queryKeyNorm = family.attention.queryKeyNorms
                ? QueryKeyNorm(query: blockNorm(.queryNorm), key: blockNorm(.keyNorm), queryColumns: config.attention.heads * d,
                               keyColumns: config.attention.kvHeads * d, group: context.tp) : nil
            let attention = ParallelAttention(projection: column(family.attentionProjections), output: row(.attentionOutput),
                                              heads: queryHeads.count, kvHeads: kvHeads.count, headDim: d, groupSize: group,
                                              groupOffset: queryHeads.lowerBound - kvHeads.lowerBound * group, rotary: rotary,
                                              queryKeyNorm: queryKeyNorm, context: context)
            let feedForward: TransformerBlock.FeedForward
            if let moe = config.moe {
                let shared = family.feedForward.hasSharedExpert
                    ? MixtureOfExpertsLayer.SharedExpert(mlp: ParallelMLP(up: column([.sharedGate, .sharedUp]), down: row(.sharedDown), activation: .swiglu,
                                                                          context: context),
                                                         gate: parameter(.block(layer: layer, .sharedExpertGate, .weight))) : nil
                let experts = try ExpertLayer(
                    experts: ExpertLayer.weights(in: store, totalExperts: moe.router.experts, context: context) {
                        config.name(of: .expert(layer: layer, expert: $0, $1))
                    }, totalExperts: moe.router.experts, tensorParallelism: context.expertTensorParallelism, context: context)
                let router = Router(weight: parameter(.block(layer: layer, .router, .weight)), configuration: moe.router, hidden: h, context: context)
                feedForward = .experts(MixtureOfExpertsLayer(router: router, experts: experts, shared: shared, hidden: h, context: context,
                                                             overlapsSharedExpert: moe.overlapsSharedExpert))
            } else {
                feedForward = .dense(ParallelMLP(up: column(family.mlpInputs), down: row(.down), activation: config.mlp.activation, context: context))
            }
            return TransformerBlock(norm1: blockNorm(.attentionNorm), attention: attention, norm2: blockNorm(.mlpNorm),
                                    feedForward: feedForward, context: context)
        }
        // A stored table holds the rows of this rank's balanced vocabulary share.
        let vocabularyStart = config.vocabularyShare(tp: context.tp.size, rank: context.tp.rank).lowerBound
        func table(_ name: String) -> VocabParallelEmbedding {
            guard let matrix = stored[name] else { return VocabParallelEmbedding(table: parameter(name), context: context) }
            return VocabParallelEmbedding(stored: matrix, vocabularyStart: vocabularyStart, context: context)
        }
        if layers.lowerBound == 0 {
            embedding = table(config.tokenEmbeddingName)
            positionEmbedding = family.positions == .learned ? parameter(.positionEmbedding) : nil
        } else {
            embedding = nil
            positionEmbedding = nil
        }
        if layers.upperBound == config.layers {
            finalNorm = norm(.finalNorm(.weight), .finalNorm(.bias))
            let vocabulary = table(config.headName)
            head = ColumnParallelLinear(parts: [.init(weight: vocabulary.table, bias: nil, layout: .outputMajor, inFeatures: h,
                                                      outputs: 0..<vocabulary.vocabularyCount)], context: context)
            crossEntropy = VocabParallelCrossEntropy(vocabularyStart: vocabulary.vocabularyStart, vocabularyCount: vocabulary.vocabularyCount,
                                                     context: context)
        } else {
            finalNorm = nil
            head = nil
            crossEntropy = nil
        }
    }

    /// A fresh state for one micro-batch in flight.
    public func makeState() -> ChunkState {
        ChunkState(blocks: blocks.count, sharedAttentionCore: recomputation == .selective ? attentionCore : nil)
    }

    /// Forward pass of one micro-batch.
    /// - Parameters:
    ///   - input: the previous chunk's output `[localRows, hidden]` (ignored by the first chunk, which reads
    ///     `microBatch.tokens`); copied into the state.
    ///   - lossScale: `∂L/∂loss` of each token (e.g. `1 / tokens in the global batch`): the last chunk then
    ///     computes the loss and keeps the logit gradients for the backward pass. `nil`: logits only
    ///     (evaluation and generation), or the loss without gradients when targets are present.
    ///   - earlierRouting: a mixture of experts on a pipeline: every earlier chunk's router statistics, summed, for
    ///     the router losses over every layer (``ChunkState/finishRouting(_:lossScale:groups:earlier:)``).
    /// - Returns: the output activation `[localRows, hidden]` (owned by the state), or `nil` for the last chunk.
    @discardableResult
    public func forward(_ microBatch: MicroBatch, input: UnsafePointer<Float>? = nil, state: ChunkState,
                        lossScale: Float? = nil, earlierRouting: RouterStatistics? = nil) throws -> FloatBuffer? {
        let tokens = microBatch.tokenCount, rows = context.localRows(tokens: tokens)
        state.microBatch = microBatch
        try loadInput(microBatch.tokens, rows: rows, input: input, into: state) { localPosition(microBatch, row: $0) }
        let x = try forwardBlocks(state.input, microBatch: microBatch, state: state)
        if let moe = config.moe {
            try state.finishRouting(moe.router, lossScale: lossScale, groups: context.routerStatisticsGroups, earlier: earlierRouting)
        }
        guard let finalNorm, let head, let crossEntropy else { return x }

        state.finalNormalized.reserve(rows * hidden)
        state.finalStatistics.reserve(2 * rows)
        finalNorm.forward(x.pointer, into: state.finalNormalized.pointer, statistics: state.finalStatistics.pointer, rows: rows,
                          backend: context.backend)
        let headInput = try head.gatherInput(state.finalNormalized.pointer, localRows: rows, scratch: workspace.gathered)
        state.logits.reserve(tokens * head.outFeatures)
        head.forward(headInput, tokens: tokens, into: state.logits.pointer)
        state.holdsLogitGradients = false
        state.lossSum = 0
        if let targets = microBatch.targets {
            state.losses.reserve(tokens)
            try targets.withUnsafeBufferPointer {
                try crossEntropy(logits: state.logits.pointer, ld: head.outFeatures, targets: $0.baseAddress!, tokens: tokens,
                                 losses: state.losses.pointer, gradientScale: lossScale, rowStatistics: state.rowStatistics)
            }
            state.lossSum = state.losses.elements.reduce(0.0) { $0 + Double($1) }
            state.holdsLogitGradients = lossScale != nil
        }
        return nil
    }

    /// Backward pass of the micro-batch whose forward filled `state`.
    /// - Parameters:
    ///   - outputGradient: gradient of this chunk's output `[localRows, hidden]` (ignored by the last chunk).
    ///   - mode: `.inputOnly` defers the weight-gradient products to ``backwardWeights(state:)``.
    ///   - afterBlock: called with a block's global layer index after its backward pass, so a data-parallel
    ///     reduction can start on gradients that are final.
    /// - Returns: the input gradient (owned by the state), or `nil` for the first chunk.
    @discardableResult
    public func backward(outputGradient: UnsafeMutablePointer<Float>? = nil, state: ChunkState,
                         mode: BackwardMode = .full, afterBlock: ((Int) throws -> Void)? = nil) throws -> FloatBuffer? {
        guard let microBatch = state.microBatch else { preconditionFailure("backward before forward") }
        let tokens = microBatch.tokenCount, rows = context.localRows(tokens: tokens)
        var dy: UnsafeMutablePointer<Float>
        if let finalNorm, let head {
            precondition(state.holdsLogitGradients, "the last chunk's forward needs a loss scale before backward")
            let input = try head.regatherInput(state.finalNormalized.pointer, tokens: tokens, into: state.headInput)
            workspace.partial.reserve(tokens * hidden)
            head.inputGradient(state.logits.pointer, tokens: tokens, into: workspace.partial.pointer)
            head.weightGradients(input: input, dy: state.logits.pointer, tokens: tokens, queue: state.weightGradients, mode: mode)
            let dNormalized = try head.reduceInputGradient(workspace.partial.pointer, tokens: tokens, scratch: workspace.reduced)
            state.finalGradient.reserve(rows * hidden)
            let last = state.blocks.last?.output ?? state.input
            finalNorm.backward(dNormalized, x: last.pointer, statistics: state.finalStatistics.pointer,
                               into: state.finalGradient.pointer, rows: rows, backend: context.backend)
            dy = state.finalGradient.pointer
        } else {
            guard let outputGradient else { preconditionFailure("chunk \(layers) needs an output gradient") }
            dy = outputGradient
        }
        dy = try backwardBlocks(dy, microBatch: microBatch, state: state, mode: mode, afterBlock: afterBlock)
        guard let embedding else {
            state.inputGradient.reserve(rows * hidden)
            if dy != state.inputGradient.pointer { context.backend.copy(dy, into: state.inputGradient.pointer, count: rows * hidden) }
            return state.inputGradient
        }
        if let positionEmbedding {
            forEachLocalPosition(microBatch) { row, position in
                context.backend.axpy(dy + row * hidden, accumulatingInto: positionEmbedding.gradient.baseAddress! + position * hidden, count: hidden)
            }
        }
        try microBatch.tokens.withUnsafeBufferPointer {
            try embedding.backward(dy, ids: $0.baseAddress!, tokens: tokens, workspace: workspace)
        }
        return nil
    }

    /// Runs the weight-gradient work a `.inputOnly` backward deferred (the W of zero-bubble schedules).
    public func backwardWeights(state: ChunkState) { state.weightGradients.run() }

    /// Fills `state.input` `[rows, hidden]`: the first chunk embeds `tokens` (this rank's rows of them) and adds
    /// each row's learned position embedding at `position(row)`; later chunks copy `input`.
    func loadInput(_ tokens: [Int32], rows: Int, input: UnsafePointer<Float>?, into state: ChunkState,
                   position: (Int) -> Int) throws {
        state.input.reserve(rows * hidden)
        guard let embedding else {
            guard let input else { preconditionFailure("chunk \(layers) needs an input activation") }
            return context.backend.copy(input, into: state.input.pointer, count: rows * hidden)
        }
        let embedded = try tokens.withUnsafeBufferPointer {
            try embedding.forward(ids: $0.baseAddress!, tokens: tokens.count, workspace: workspace)
        }
        context.backend.copy(embedded, into: state.input.pointer, count: rows * hidden)
        guard let positionEmbedding else { return }
        for row in 0..<rows {
            context.backend.add(state.input.pointer + row * hidden, positionEmbedding.value.baseAddress! + position(row) * hidden,
                                into: state.input.pointer + row * hidden, count: hidden)
        }
    }

    /// The position of this rank's `row` of `microBatch` (positions restart with each sequence and are the shard's
    /// with context parallelism).
    private func localPosition(_ microBatch: MicroBatch, row: Int) -> Int {
        let first = context.sequenceParallel ? context.tp.rank * context.localRows(tokens: microBatch.tokenCount) : 0
        return microBatch.position(ofRow: first + row)
    }

    /// Calls `body(localRow, position)` for this rank's rows.
    private func forEachLocalPosition(_ microBatch: MicroBatch, _ body: (Int, Int) -> Void) {
        for row in 0..<context.localRows(tokens: microBatch.tokenCount) { body(row, localPosition(microBatch, row: row)) }
    }
}
