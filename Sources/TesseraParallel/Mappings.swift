import TesseraCollectives
import TesseraNN

/// Megatron's conjugate communication operators (Shoeybi et al. 2019, "f" and "g"; Korthikanti et al.
/// 2022 for the sequence region). Each is a forward/backward pair and the identity on a group of one.
///
/// Shapes are `[rows, columns]` row-major. A call returns where its result lies: the input itself
/// (in-place reductions and the identity) or `scratch`, which it resizes. Layers call only these,
/// never the communicator.
public enum ConjugateMapping: String, Sendable, Hashable, CaseIterable {
    /// Forward: identity. Backward: all-reduce (sum) over tp.
    case copyToTensorRegion
    /// Forward: all-reduce (sum) over tp. Backward: identity.
    case reduceFromTensorRegion
    /// Forward: keep this rank's block of the last dimension (`columns / tp`). Backward: all-gather it.
    case scatterToTensorRegion
    /// Forward: all-gather the last dimension (`columns × tp`). Backward: keep this rank's block.
    case gatherFromTensorRegion
    /// Forward: all-gather rows from the sequence shards (`rows × tp`). Backward: reduce-scatter rows.
    case gatherFromSequenceRegion
    /// Forward: reduce-scatter rows onto the sequence shards (`rows / tp`). Backward: all-gather rows.
    case reduceScatterToSequenceRegion
    /// Identity both ways: only for tests that prove a missing mapping is caught.
    case identity

    /// The forward half. `input` is `[rows, columns]`.
    public func forward(_ input: UnsafeMutablePointer<Float>, rows: Int, columns: Int, scratch: FloatBuffer,
                        in context: LayerContext) throws -> UnsafeMutablePointer<Float> {
        try apply(forward: true, input, rows: rows, columns: columns, scratch: scratch, in: context)
    }

    /// The backward half. `gradient` has the shape of the forward output.
    public func backward(_ gradient: UnsafeMutablePointer<Float>, rows: Int, columns: Int, scratch: FloatBuffer,
                         in context: LayerContext) throws -> UnsafeMutablePointer<Float> {
        try apply(forward: false, gradient, rows: rows, columns: columns, scratch: scratch, in: context)
    }

    private enum Primitive { case none, allReduce, gatherRows, reduceScatterRows, gatherColumns, keepColumns }

    private func primitive(forward: Bool) -> Primitive {
        switch self {
        case .copyToTensorRegion: return forward ? .none : .allReduce
        case .reduceFromTensorRegion: return forward ? .allReduce : .none
        case .scatterToTensorRegion: return forward ? .keepColumns : .gatherColumns
        case .gatherFromTensorRegion: return forward ? .gatherColumns : .keepColumns
        case .gatherFromSequenceRegion: return forward ? .gatherRows : .reduceScatterRows
        case .reduceScatterToSequenceRegion: return forward ? .reduceScatterRows : .gatherRows
        case .identity: return .none
        }
    }

    private func apply(forward: Bool, _ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, scratch: FloatBuffer,
                       in context: LayerContext) throws -> UnsafeMutablePointer<Float> {
        guard let group = context.tp.group, group.size > 1 else { return x }
        let n = group.size, count = rows * columns
        switch primitive(forward: forward) {
        case .none:
            return x
        case .allReduce:
            try group.allReduce(UnsafeMutableBufferPointer(start: x, count: count), operation: .sum)
            return x
        case .gatherRows:
            scratch.reserve(count * n)
            try group.allGather(UnsafeBufferPointer(start: x, count: count), into: scratch.mutableElements)
            return scratch.pointer
        case .reduceScatterRows:
            precondition(rows % n == 0, "\(rows) rows do not split over tp=\(n)")
            scratch.reserve(count / n)
            try group.reduceScatter(UnsafeBufferPointer(start: x, count: count), into: scratch.mutableElements, operation: .sum)
            return scratch.pointer
        case .gatherColumns:
            // All-gather rank blocks [n][rows, columns], then interleave into [rows, n·columns].
            scratch.reserve(2 * count * n)
            let blocks = scratch.pointer + count * n
            try group.allGather(UnsafeBufferPointer(start: x, count: count),
                                into: UnsafeMutableBufferPointer(start: blocks, count: count * n))
            for r in 0..<n {
                for row in 0..<rows {
                    (scratch.pointer + row * columns * n + r * columns).update(from: blocks + (r * rows + row) * columns, count: columns)
                }
            }
            scratch.reserve(count * n)  // the result; the blocks stay behind it in capacity
            return scratch.pointer
        case .keepColumns:
            precondition(columns % n == 0, "\(columns) columns do not split over tp=\(n)")
            let width = columns / n
            scratch.reserve(rows * width)
            for row in 0..<rows {
                (scratch.pointer + row * width).update(from: x + row * columns + group.rank * width, count: width)
            }
            return scratch.pointer
        }
    }
}

/// The mappings a layer uses at each point. ``megatron`` is the real table; tests replace one entry by
/// ``ConjugateMapping/identity`` to show the equivalence tests catch a missing collective.
public struct MappingTable: Sendable, Hashable {
    public var copyToTensorRegion: ConjugateMapping
    public var reduceFromTensorRegion: ConjugateMapping
    public var scatterToTensorRegion: ConjugateMapping
    public var gatherFromTensorRegion: ConjugateMapping
    public var gatherFromSequenceRegion: ConjugateMapping
    public var reduceScatterToSequenceRegion: ConjugateMapping

    public static let megatron = MappingTable(
        copyToTensorRegion: .copyToTensorRegion, reduceFromTensorRegion: .reduceFromTensorRegion,
        scatterToTensorRegion: .scatterToTensorRegion, gatherFromTensorRegion: .gatherFromTensorRegion,
        gatherFromSequenceRegion: .gatherFromSequenceRegion, reduceScatterToSequenceRegion: .reduceScatterToSequenceRegion)
}
