import TesseraCollectives
import TesseraNN
import TesseraTensor

/// One mesh axis as a layer sees it: the rank's group on that axis, or none on one rank.
///
/// Every method is the identity (or returns its input) when the group has one rank, so a layer written
/// against an axis is the single-device layer when the axis has size 1.
public struct AxisGroup: Sendable {
    /// The group, or `nil` when the axis has one rank.
    public let group: (any Communicator)?

    public init(_ group: (any Communicator)?) { self.group = group }

    /// No group: one rank.
    public static let single = AxisGroup(nil)

    /// Ranks on this axis.
    public var size: Int { group?.size ?? 1 }
    /// This rank's position on the axis.
    public var rank: Int { group?.rank ?? 0 }

    /// Sums a Double (a loss or a Σ g²) over the group; the identity on one rank.
    public func sum(_ value: Double) throws -> Double {
        guard let group, group.size > 1 else { return value }
        return Double(try group.allReduce(Float(value), operation: .sum))
    }

    /// Reduces `buffer` element-wise over the group; nothing on one rank.
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws {
        guard let group, group.size > 1 else { return }
        try group.allReduce(buffer, operation: operation)
    }

    /// Every rank's `local` (equal counts), concatenated in rank order (not a hot path).
    public func allGather(_ local: UnsafeBufferPointer<Float>) throws -> [Float] {
        var result = [Float](repeating: 0, count: local.count * size)
        try result.withUnsafeMutableBufferPointer { try allGather(local, counts: Array(repeating: local.count, count: size), into: $0) }
        return result
    }

    /// Every rank's `local` (`counts[r]` floats from rank `r`: equal, or the unequal shares of an uneven
    /// tensor-parallel split), concatenated in rank order into `output` (`Σ counts` elements).
    public func allGather(_ local: UnsafeBufferPointer<Float>, counts: [Int], into output: UnsafeMutableBufferPointer<Float>) throws {
        if let group, group.size > 1 {
            try group.allGather(local, counts: counts, into: output)
        } else {
            _ = output.update(fromContentsOf: local)
        }
    }
}

/// Everything one rank's layers are built with: the group of every mesh axis, the combined groups gradients
/// are reduced over, whether sequence parallelism is on, the conjugate mappings the layers call, and the
/// compute backend their kernels run on. Every layer receives it in its initializer; nothing is global.
///
/// ``single`` (every axis one rank) is the single-device model: every mapping is the identity and the layers
/// are exactly the single-device layers (one code path for every layout). Groups follow ``DeviceMesh``'s rank
/// order (tp fastest, then cp, then dp with ep carved out of dp × cp, then pp).
public struct LayerContext: Sendable {
    /// Tensor parallelism: heads, MLP columns and the vocabulary are split over it.
    public let tp: AxisGroup
    /// Context parallelism: each rank holds a share of every sequence's tokens.
    public let cp: AxisGroup
    /// Expert parallelism: the experts of a mixture-of-experts layer are split over it (carved out of dp × cp).
    public let ep: AxisGroup
    /// The ranks holding the same experts (dp × cp / ep): expert weights' gradients are reduced over it.
    public let expertData: AxisGroup
    /// Data parallelism.
    public let dp: AxisGroup
    /// dp × cp: dense weights' gradients are reduced over it.
    public let dataContext: AxisGroup
    /// The pipeline group; its rank is the stage.
    public let pp: AxisGroup
    /// Megatron sequence parallelism: norms and residuals run on `tokens / tp` rows.
    public let sequenceParallel: Bool
    /// The groups a model's router statistics are summed over, one after the other, so that its router losses are the
    /// whole micro-batch's: tp first with sequence parallelism (each tp rank routes its own rows), then dp × cp. Tests
    /// empty it to show that rank-local statistics are caught.
    public var routerStatisticsGroups: [AxisGroup]
    /// The groups holding the other parts of this rank's sequences, one after the other: tp with sequence parallelism,
    /// then cp. An expert capacity gathers each sequence's routing over them, so it counts whole sequences
    /// (``Router/forward(_:tokens:sequences:state:rowStable:)``). Tests empty it to show that a capacity over the
    /// rank's own rows is caught.
    public var capacityGroups: [AxisGroup]
    /// The mappings layers call; ``MappingTable/megatron`` unless a test breaks one on purpose.
    public let mappings: MappingTable
    /// Where this rank's kernels run.
    public let backend: any ComputeBackend
    /// Whether mixture-of-experts layers hold their experts whole or split over tp.
    public var expertTensorParallelism: ExpertTensorParallelism = .whole
    /// How attention reaches the other cp ranks' keys and values (with cp > 1).
    public var contextCommunication: ContextCommunication = .ring
    /// Context-parallel mistakes made on purpose; empty unless a test shows the equivalence checks can fail.
    public var contextFaults: ContextParallelFaults = []
    /// Scratch of the context-parallel attention passes (empty without context parallelism). One per rank, shared by
    /// every attention layer built from this context: a rank runs one pass at a time and nothing in it outlives a
    /// call, so a per-layer copy would only multiply the ring's key/value buffers by the layer count.
    let contextScratch = ContextAttentionScratch()

    /// A context over every group of `groups` (`nil`: one device).
    public init(groups: ProcessGroups?, sequenceParallel: Bool = false, mappings: MappingTable = .megatron,
                backend: any ComputeBackend = CPUBackend.serial) {
        self.init(tensor: groups?.tensor, context: groups?.context, expert: groups?.expert, expertData: groups?.expertData,
                  data: groups?.data, dataContext: groups?.dataContext, pipeline: groups?.pipeline,
                  sequenceParallel: sequenceParallel, mappings: mappings, backend: backend)
    }

    /// A context with the given groups (`nil`: that axis has one rank); layer tests pass only `tensor`.
    public init(tensor: (any Communicator)?, context: (any Communicator)? = nil, expert: (any Communicator)? = nil,
                expertData: (any Communicator)? = nil, data: (any Communicator)? = nil, dataContext: (any Communicator)? = nil,
                pipeline: (any Communicator)? = nil, sequenceParallel: Bool = false, mappings: MappingTable = .megatron,
                backend: any ComputeBackend = CPUBackend.serial) {
        tp = AxisGroup(tensor)
        cp = AxisGroup(context)
        ep = AxisGroup(expert)
        self.expertData = AxisGroup(expertData)
        dp = AxisGroup(data)
        self.dataContext = AxisGroup(dataContext)
        pp = AxisGroup(pipeline)
        self.sequenceParallel = sequenceParallel && tp.size > 1
        routerStatisticsGroups = self.sequenceParallel ? [tp, self.dataContext] : [self.dataContext]
        capacityGroups = (self.sequenceParallel ? [tp] : []) + (cp.size > 1 ? [cp] : [])
        self.mappings = mappings
        self.backend = backend
    }

    /// One device, no communication, one thread.
    public static let single = LayerContext(tensor: nil)

    /// Rows of the activations between layers for a micro-batch of `tokens` tokens
    /// (`tokens / tp` with sequence parallelism).
    public func localRows(tokens: Int) -> Int { sequenceParallel ? tokens / tp.size : tokens }
}
