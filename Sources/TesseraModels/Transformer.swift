import TesseraNN
import TesseraParallel

/// The part of a transformer one rank holds: its parameters (one flat ``ParameterStore``) and its
/// chunks. On one device (or one pipeline stage with tp ranks) it is one chunk with every layer.
public final class Transformer: @unchecked Sendable {
    public let config: TransformerConfig
    public let context: LayerContext
    public let store: ParameterStore
    /// This rank's chunks in model order.
    public let chunks: [TransformerChunk]
    private let reductionBuffer = FloatBuffer(count: 0)

    /// Builds and initializes this rank's part of the model.
    /// - Parameters:
    ///   - tp: the tensor-parallel setting (``LayerContext/single`` on one device).
    ///   - seed: initial values depend only on `(seed, name, global index)`, so any layout starts equal;
    ///     `nil` leaves zeros for a checkpoint to fill.
    ///   - chunkLayers: the layer range of each chunk this rank runs (default: one chunk with every layer).
    /// - Throws: ``ModelError`` when the configuration is invalid, does not split over tp, or the ranges
    ///   are not ordered, non-overlapping ranges inside `0..<layers`.
    public init(config: TransformerConfig, context: LayerContext = .single, seed: UInt64?,
                chunkLayers: [Range<Int>]? = nil) throws {
        try config.validate(tp: context.tp.size)
        let ranges = chunkLayers ?? [0..<config.layers]
        for (i, range) in ranges.enumerated() {
            guard range.lowerBound >= 0, range.upperBound <= config.layers, i == 0 || ranges[i - 1].upperBound <= range.lowerBound else {
                throw ModelError.invalidConfiguration(field: "chunk layers", reason: "\(ranges) must be ordered, disjoint ranges inside 0..<\(config.layers)")
            }
        }
        if let moe = config.moe { _ = try ExpertLayer.localExperts(totalExperts: moe.router.experts, context: context) }
        self.config = config
        self.context = context
        let store = ParameterStore(specs: Self.parameterSpecs(config: config, context: context, chunkLayers: ranges), seed: seed)
        self.store = store
        self.chunks = try ranges.map { try TransformerChunk(config: config, context: context, layers: $0, store: store) }
    }

    /// The parameters of a rank that runs the chunks `chunkLayers`, in store order: each chunk's (with the
    /// embedding on the chunk that starts at layer 0 and the head on the one that ends the model), each name once.
    public static func parameterSpecs(config: TransformerConfig, context: LayerContext, chunkLayers: [Range<Int>]) -> [ParameterSpec] {
        var specs: [ParameterSpec] = [], seen = Set<String>()
        for range in chunkLayers {
            for spec in config.parameterSpecs(context: context, layers: range, embedding: range.lowerBound == 0,
                                              head: range.upperBound == config.layers) where seen.insert(spec.name).inserted {
                specs.append(spec)
            }
        }
        return specs
    }

    /// Sums the partial gradients of replicated parameters over tp (sequence-parallel norms and biases,
    /// replicated key/value weights), in one all-reduce. Call once per step after the last backward.
    public func reduceTensorParallelGradients() throws {
        try TensorParallelGradients.sumPartial(store.parameters, over: context, scratch: reductionBuffer)
    }

    /// Bytes of this rank's parameter values.
    public var parameterBytes: Int { store.valueBytes }
}
