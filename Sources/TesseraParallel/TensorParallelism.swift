import TesseraCollectives
import TesseraNN
import TesseraTensor

/// The tensor-parallel setting one rank's layers are built with: its group, whether sequence
/// parallelism is on, the conjugate mappings the layers call, and the rank's compute pool.
///
/// `group == nil` (or a group of one rank) is the single-device model: every mapping is the identity and
/// the layers are exactly the single-device layers (one code path for every tp).
///
/// Every kernel the layers call outside `cblas_sgemm` runs on ``pool``: the rank's share of the cores
/// (the same count as its OpenBLAS threads). Kernels give the same bits for every pool size, so the pool
/// changes the speed of a layout, never its numbers.
public struct TensorParallelism: Sendable {
    /// The tensor-parallel group, or `nil` on one device.
    public let group: (any Communicator)?
    /// Megatron sequence parallelism: norms and residuals run on `tokens / tp` rows.
    public let sequenceParallel: Bool
    /// The mappings layers call; ``MappingTable/megatron`` unless a test breaks one on purpose.
    public let mappings: MappingTable
    /// The threads this rank's element-wise, normalization, attention and loss kernels run on.
    public let pool: ComputePool

    public init(group: (any Communicator)?, sequenceParallel: Bool = false, mappings: MappingTable = .megatron,
                pool: ComputePool = .serial) {
        self.group = group
        self.sequenceParallel = sequenceParallel && (group?.size ?? 1) > 1
        self.mappings = mappings
        self.pool = pool
    }

    /// One device, no communication.
    public static let single = TensorParallelism(group: nil)

    /// Ranks in the group (tp).
    public var size: Int { group?.size ?? 1 }
    /// This rank's position in the group.
    public var rank: Int { group?.rank ?? 0 }

    /// Rows of the activations between layers for a micro-batch of `tokens` tokens
    /// (`tokens / tp` with sequence parallelism).
    public func localRows(tokens: Int) -> Int { sequenceParallel ? tokens / size : tokens }

    /// Sums a Double (a loss or a Σ g²) over the group; the identity on one rank.
    public func sum(_ value: Double) throws -> Double {
        guard let group, group.size > 1 else { return value }
        return Double(try group.allReduce(Float(value), operation: .sum))
    }
}

extension TensorParallelism {
    /// Reduces `buffer` element-wise over the group (the vocab-parallel cross-entropy's row statistics);
    /// nothing on one rank.
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws {
        guard let group, group.size > 1 else { return }
        try group.allReduce(buffer, operation: operation)
    }
}

/// Scratch buffers that live for one layer call on one rank (shared by every micro-batch state, since a
/// rank runs one pass at a time). Pointers into it are valid only until the next layer call.
public final class Workspace: @unchecked Sendable {
    /// The all-gathered input of a column-parallel linear (sequence parallelism).
    public let gathered = FloatBuffer(count: 0)
    /// Partial sums before a reduction.
    public let partial = FloatBuffer(count: 0)
    /// Results of row reductions and gathers.
    public let reduced = FloatBuffer(count: 0)
    /// A second result buffer for backward passes.
    public let gradient = FloatBuffer(count: 0)

    public init() {}

    /// Bytes held.
    public var byteCount: Int { [gathered, partial, reduced, gradient].reduce(0) { $0 + $1.byteCount } }
}

extension TensorParallelism {
    /// Every rank's `local` (equal counts), concatenated in rank order (checkpoint gathering; not a hot path).
    public func allGather(_ local: UnsafeBufferPointer<Float>) throws -> [Float] {
        guard let group, group.size > 1 else { return Array(local) }
        var result = [Float](repeating: 0, count: local.count * group.size)
        try result.withUnsafeMutableBufferPointer { try group.allGather(local, into: $0) }
        return result
    }
}
