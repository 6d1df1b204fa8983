/// A parallel axis of the device mesh.
///
/// Ranks are laid out with `tp` fastest, then `cp`, `dp`, and `pp` slowest (Megatron's order), so the
/// ranks of a tensor-parallel group are neighbours (one node, fastest links) and pipeline stages are
/// furthest apart.
public enum MeshAxis: String, CaseIterable, Sendable, Codable {
    case tp, cp, dp, pp
}

/// A rank's position on every axis of the mesh.
public struct MeshCoordinate: Sendable, Hashable, Codable, CustomStringConvertible {
    public var tp: Int, cp: Int, dp: Int, pp: Int

    public init(tp: Int = 0, cp: Int = 0, dp: Int = 0, pp: Int = 0) {
        self.tp = tp; self.cp = cp; self.dp = dp; self.pp = pp
    }

    public subscript(axis: MeshAxis) -> Int {
        get {
            switch axis {
            case .tp: return tp
            case .cp: return cp
            case .dp: return dp
            case .pp: return pp
            }
        }
        set {
            switch axis {
            case .tp: tp = newValue
            case .cp: cp = newValue
            case .dp: dp = newValue
            case .pp: pp = newValue
            }
        }
    }

    public var description: String { "tp=\(tp) cp=\(cp) dp=\(dp) pp=\(pp)" }
}

/// Errors in the shape of a mesh.
public enum MeshError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The product of the axes differs from the number of ranks; `suggestions` are layouts that fit.
    case sizeMismatch(ranks: Int, requested: String, suggestions: [String])
    /// An axis size is not positive.
    case invalidAxis(axis: MeshAxis, size: Int)

    public var description: String {
        switch self {
        case let .sizeMismatch(ranks, requested, suggestions):
            let options = suggestions.isEmpty ? "" : "; layouts that fit \(ranks) ranks: \(suggestions.joined(separator: ", "))"
            return "the mesh \(requested) does not use exactly \(ranks) ranks\(options)"
        case let .invalidAxis(axis, size):
            return "\(axis.rawValue)=\(size) is invalid: every axis size must be at least 1"
        }
    }
}

/// The sizes of the mesh axes and the pure rank ↔ coordinate arithmetic.
///
/// `rank = tp + TP·(cp + CP·(dp + DP·pp))`. Nothing here communicates.
public struct DeviceMesh: Sendable, Hashable, Codable, CustomStringConvertible {
    public let tp: Int, cp: Int, dp: Int, pp: Int

    /// - Throws: ``MeshError/invalidAxis(axis:size:)`` for a size below 1.
    public init(tp: Int = 1, cp: Int = 1, dp: Int = 1, pp: Int = 1) throws {
        for (axis, size) in [(MeshAxis.tp, tp), (.cp, cp), (.dp, dp), (.pp, pp)] where size < 1 {
            throw MeshError.invalidAxis(axis: axis, size: size)
        }
        self.tp = tp; self.cp = cp; self.dp = dp; self.pp = pp
    }

    /// A mesh that must use exactly `ranks` ranks.
    /// - Throws: ``MeshError/sizeMismatch(ranks:requested:suggestions:)`` listing layouts that would fit.
    public init(ranks: Int, tp: Int = 1, cp: Int = 1, dp: Int = 1, pp: Int = 1) throws {
        try self.init(tp: tp, cp: cp, dp: dp, pp: pp)
        guard size == ranks else {
            throw MeshError.sizeMismatch(ranks: ranks, requested: description,
                                         suggestions: DeviceMesh.suggestions(ranks: ranks, near: self))
        }
    }

    public var size: Int { tp * cp * dp * pp }

    public subscript(axis: MeshAxis) -> Int {
        switch axis {
        case .tp: return tp
        case .cp: return cp
        case .dp: return dp
        case .pp: return pp
        }
    }

    public var description: String { "tp=\(tp) cp=\(cp) dp=\(dp) pp=\(pp)" }

    /// The coordinate of `rank` (`0..<size`).
    public func coordinate(of rank: Int) -> MeshCoordinate {
        precondition(rank >= 0 && rank < size, "rank \(rank) outside mesh of \(size)")
        var rest = rank
        let t = rest % tp; rest /= tp
        let c = rest % cp; rest /= cp
        let d = rest % dp; rest /= dp
        return MeshCoordinate(tp: t, cp: c, dp: d, pp: rest)
    }

    /// The rank at `coordinate`.
    public func rank(at coordinate: MeshCoordinate) -> Int {
        coordinate.tp + tp * (coordinate.cp + cp * (coordinate.dp + dp * coordinate.pp))
    }

    /// The ranks that share every coordinate of `rank` except those on `axes`, in rank order.
    /// These are the members of `rank`'s group over `axes` (e.g. `[.tp]`: its tensor-parallel group).
    public func groupRanks(over axes: Set<MeshAxis>, containing rank: Int) -> [Int] {
        let home = coordinate(of: rank)
        return (0..<size).filter { other in
            let c = coordinate(of: other)
            return MeshAxis.allCases.allSatisfy { axes.contains($0) || c[$0] == home[$0] }
        }
    }

    /// A colour identifying `rank`'s group over `axes`: equal for exactly the members of that group.
    public func groupColor(over axes: Set<MeshAxis>, of rank: Int) -> Int {
        var c = coordinate(of: rank)
        for axis in axes { c[axis] = 0 }
        return self.rank(at: c)
    }

    /// The embedding group of `rank`: the first and the last pipeline stage with its tp, cp and dp
    /// coordinates (they hold the tied input and output embeddings). `nil` for middle stages.
    /// With `pp == 1` it is the rank alone.
    public func embeddingRanks(containing rank: Int) -> [Int]? {
        let c = coordinate(of: rank)
        guard c.pp == 0 || c.pp == pp - 1 else { return nil }
        var first = c, last = c
        first.pp = 0
        last.pp = pp - 1
        return Array(Set([self.rank(at: first), self.rank(at: last)])).sorted()
    }

    /// Layouts of `ranks` ranks that keep as many of `near`'s axis sizes as possible.
    public static func suggestions(ranks: Int, near requested: DeviceMesh) -> [String] {
        guard ranks > 0 else { return [] }
        var options: [String] = []
        let divisors = (1...ranks).filter { ranks % $0 == 0 }
        // Keep tp, cp and pp where they divide the ranks and let dp take the rest.
        for tp in [requested.tp, 1] where ranks % tp == 0 {
            for pp in [requested.pp, 1] where (ranks / tp) % pp == 0 {
                for cp in [requested.cp, 1] where (ranks / tp / pp) % cp == 0 {
                    let layout = "tp=\(tp) cp=\(cp) dp=\(ranks / tp / pp / cp) pp=\(pp)"
                    if !options.contains(layout) { options.append(layout) }
                }
            }
        }
        for tp in divisors where options.count < 6 {
            let layout = "tp=\(tp) cp=1 dp=\(ranks / tp) pp=1"
            if !options.contains(layout) { options.append(layout) }
        }
        return options
    }
}
