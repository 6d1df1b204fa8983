import TesseraCollectives
import TesseraNN
import TesseraTensor

/// AdamW over the parameters one rank updates, after its gradients were reduced by a
/// ``DataParallelReducer``: every parameter (ZeRO 0) or only this rank's slice of each bucket (ZeRO 1, the
/// distributed optimizer of Rajbhandari et al. 2020, §5.1), whose moments are all this rank keeps.
///
/// One step: the global gradient norm (each element counted once: a ZeRO-1 slice is counted by the rank
/// that owns it, a tp replica by tp rank 0, a tied copy by the first stage), clipping, the AdamW update of
/// the owned ranges, and (ZeRO 1) the all-gather that gives every rank the updated parameters.
public final class DistributedOptimizer {
    public let reducer: DataParallelReducer
    /// One AdamW per owned range, in store order.
    public let optimizers: [AdamW]
    private let store: ParameterStore
    private let normGroup: (any Communicator)?
    private let expertGroup: (any Communicator)?
    private let backend: any ComputeBackend

    /// - Parameters:
    ///   - normGroup: the ranks whose local Σ g² add up to the global one: the model-parallel group (tp × pp)
    ///     with ZeRO 0, the whole world with ZeRO 1; `nil` on one device.
    ///   - expertGroup: the expert-parallel group. With ZeRO 0 its ranks hold different experts that `normGroup` does not
    ///     span, so the expert weights' Σ g² is summed over it first (with ZeRO 1 the whole world already counts each
    ///     expert slice once); `nil` without expert parallelism.
    ///   - backend: the rank's threads for the AdamW update.
    public init(store: ParameterStore, configuration: AdamWConfiguration, reducer: DataParallelReducer,
                normGroup: (any Communicator)?, expertGroup: (any Communicator)? = nil, backend: any ComputeBackend = CPUBackend.serial) {
        self.store = store
        self.reducer = reducer
        self.normGroup = normGroup
        self.expertGroup = reducer.zeroStage == 0 ? expertGroup : nil
        self.backend = backend
        optimizers = reducer.ownedRanges.map { AdamW(configuration: configuration, store: store, range: $0, backend: backend) }
    }

    /// Steps taken.
    public var stepCount: Int { optimizers.first?.stepCount ?? 0 }

    /// Bytes of AdamW moments on this rank.
    public var optimizerBytes: Int { optimizers.reduce(0) { $0 + $1.firstMoments.byteCount + $1.secondMoments.byteCount } }

    /// Clips the reduced gradients to `maxGradientNorm`, updates the owned parameters and (ZeRO 1) gathers
    /// every rank's updates. Returns the global gradient norm before clipping. The clipping coefficient is
    /// applied as AdamW reads the gradients (one pass fewer over them; the stored gradients stay unclipped).
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func step(learningRate: Float, maxGradientNorm: Float?) throws -> Float {
        let ranges = reducer.ownedRanges
        let norm = try GradientClipping.norm(store, ranges: ranges, backend: backend, experts: { try expertGroup?.sumInRankOrder($0) ?? $0 }) { local in
            try normGroup?.sumInRankOrder(local) ?? local
        }
        let coefficient = GradientClipping.coefficient(norm: norm, maxNorm: maxGradientNorm)
        for optimizer in optimizers { optimizer.step(store, learningRate: learningRate, gradientScale: coefficient) }
        try reducer.gatherParameters()
        return norm
    }
}

extension Communicator {
    /// The sum of every rank's `value`, added in Double in rank order, so every rank gets the same bits and
    /// a sum over one contributing rank is that rank's value exactly.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func sumInRankOrder(_ value: Double) throws -> Double {
        try sumsInRankOrder([value])[0]
    }

    /// ``sumInRankOrder(_:)`` of several values in one collective: element `i` of the result is the sum of every
    /// rank's `values[i]` in rank order. Every rank must pass as many values.
    public func sumsInRankOrder(_ values: [Double]) throws -> [Double] {
        guard size > 1 else { return values }
        var gathered = [Double](repeating: 0, count: size * values.count)
        try values.withUnsafeBytes { input in
            try gathered.withUnsafeMutableBytes { try allGather(input, into: $0) }
        }
        return values.indices.map { i in (0..<size).reduce(0) { $0 + gathered[$1 * values.count + i] } }
    }
}
