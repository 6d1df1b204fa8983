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
    /// Expert parallelism is carved out of dp × cp and must divide it; `valid` lists the sizes that do.
    case expertParallel(ep: Int, dataContext: Int, valid: [Int])

    public var description: String {
        switch self {
        case let .sizeMismatch(ranks, requested, suggestions):
            let options = suggestions.isEmpty ? "" : "; layouts that fit \(ranks) ranks: \(suggestions.joined(separator: ", "))"
            return "the mesh \(requested) does not use exactly \(ranks) ranks\(options)"
        case let .invalidAxis(axis, size):
            return "\(axis.rawValue)=\(size) is invalid: every axis size must be at least 1"
        case let .expertParallel(ep, dataContext, valid):
            return "ep=\(ep) does not divide dp × cp = \(dataContext) (experts are sharded over ranks carved out of dp × cp);"
                + " use ep ∈ {\(valid.map(String.init).joined(separator: ", "))}"
        }
    }
}

/// The sizes of the mesh axes and the pure rank ↔ coordinate arithmetic.
///
/// `rank = tp + TP·(cp + CP·(dp + DP·pp))`. Expert parallelism adds no ranks: as in Megatron-Core, the
/// `dp · cp` ranks of one (tp, pp) position, numbered `j = cp + CP·dp`, form blocks of `ep` consecutive
/// values of `j` (the expert groups, whose members hold different experts); ranks with the same `j mod ep`
/// form the expert-data-parallel group (same experts, different data). Nothing here communicates.
public struct DeviceMesh: Sendable, Hashable, Codable, CustomStringConvertible {
    public let tp: Int, cp: Int, dp: Int, pp: Int
    /// Expert-parallel ranks, a divisor of `dp · cp`.
    public let ep: Int

    /// - Throws: ``MeshError/invalidAxis(axis:size:)`` for a size below 1; ``MeshError/expertParallel(ep:dataContext:valid:)``
    ///   when `ep` does not divide `dp · cp`.
    public init(tp: Int = 1, cp: Int = 1, dp: Int = 1, pp: Int = 1, ep: Int = 1) throws {
        for (axis, size) in [(MeshAxis.tp, tp), (.cp, cp), (.dp, dp), (.pp, pp)] where size < 1 {
            throw MeshError.invalidAxis(axis: axis, size: size)
        }
        guard ep >= 1, (dp * cp) % ep == 0 else {
            throw MeshError.expertParallel(ep: ep, dataContext: dp * cp, valid: (1...(dp * cp)).filter { (dp * cp) % $0 == 0 })
        }
        self.tp = tp; self.cp = cp; self.dp = dp; self.pp = pp; self.ep = ep
    }

    private enum CodingKeys: String, CodingKey { case tp, cp, dp, pp, ep }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(tp: c.decode(Int.self, forKey: .tp), cp: c.decode(Int.self, forKey: .cp), dp: c.decode(Int.self, forKey: .dp),
                      pp: c.decode(Int.self, forKey: .pp), ep: c.decodeIfPresent(Int.self, forKey: .ep) ?? 1)
    }

    /// A mesh that must use exactly `ranks` ranks.
    /// - Throws: ``MeshError/sizeMismatch(ranks:requested:suggestions:)`` listing layouts that would fit.
    public init(ranks: Int, tp: Int = 1, cp: Int = 1, dp: Int = 1, pp: Int = 1, ep: Int = 1) throws {
        try self.init(tp: tp, cp: cp, dp: dp, pp: pp, ep: ep)
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

    public var description: String { "tp=\(tp) cp=\(cp) dp=\(dp) pp=\(pp)" + (ep > 1 ? " ep=\(ep)" : "") }

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

    /// `rank`'s position among the `dp · cp` ranks of its (tp, pp) position: `cp + CP·dp`.
    private func dataContextIndex(of rank: Int) -> Int {
        let c = coordinate(of: rank)
        return c.cp + cp * c.dp
    }

    /// `rank`'s expert-parallel rank: which `1/ep` of the experts it holds.
    public func expertRank(of rank: Int) -> Int { dataContextIndex(of: rank) % ep }

    /// `rank`'s expert-data-parallel rank: which of the `dp · cp / ep` replicas of its experts it holds.
    public func expertDataRank(of rank: Int) -> Int { dataContextIndex(of: rank) / ep }

    /// The members of `rank`'s expert-parallel group (they hold different experts and exchange tokens), in rank order.
    public func expertGroupRanks(containing rank: Int) -> [Int] {
        let home = coordinate(of: rank), block = dataContextIndex(of: rank) / ep
        return (0..<size).filter {
            let c = coordinate(of: $0)
            return c.tp == home.tp && c.pp == home.pp && dataContextIndex(of: $0) / ep == block
        }
    }

    /// The members of `rank`'s expert-data-parallel group (they hold the same experts; expert gradients are
    /// reduced over it), in rank order.
    public func expertDataGroupRanks(containing rank: Int) -> [Int] {
        let home = coordinate(of: rank), offset = dataContextIndex(of: rank) % ep
        return (0..<size).filter {
            let c = coordinate(of: $0)
            return c.tp == home.tp && c.pp == home.pp && dataContextIndex(of: $0) % ep == offset
        }
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
