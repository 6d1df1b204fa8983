/// How one rank's local tensor relates to the full (global) Hugging Face tensor.
///
/// Either the whole tensor (`dimension == nil`, replicated), or a split along `dimension` into `parts`
/// balanced, contiguous pieces of which this rank holds piece `index`. The dimension is counted in
/// `granule`-sized units (a whole attention head: `granule = headDim`; a vocabulary row or an MLP feature:
/// 1) and the units are shared out by ``balancedShare(of:parts:index:)``: the first `units % parts` pieces
/// hold one unit more, so any `parts` up to the unit count works. With `blocks > 1` the dimension is first
/// viewed as `blocks` equal blocks and each block is split the same way (GPT-2's fused `c_attn` holds
/// `[q | k | v]` along its output dimension, so a rank takes its heads from each of the three: `blocks = 3`).
///
/// All index math is pure and shared by initialization, checkpoint loading and gathering for saving.
public struct Sharding: Sendable, Hashable, CustomStringConvertible {
    /// The split dimension, or `nil` when every rank holds the whole tensor.
    public let dimension: Int?
    /// Number of pieces (1 when replicated).
    public let parts: Int
    /// This rank's piece, `0..<parts`.
    public let index: Int
    /// Equal blocks the dimension is viewed as before splitting (1 for a plain split).
    public let blocks: Int
    /// Elements of the split dimension that stay together on one rank (a head's `headDim`, or 1).
    public let granule: Int

    /// The whole tensor on every rank.
    public static let replicated = Sharding(dimension: nil, parts: 1, index: 0, blocks: 1, granule: 1)

    /// Piece `index` of `parts` along `dimension`.
    public static func split(dimension: Int, parts: Int, index: Int, blocks: Int = 1, granule: Int = 1) -> Sharding {
        precondition(parts >= 1 && index >= 0 && index < parts && blocks >= 1 && granule >= 1,
                     "invalid split \(index)/\(parts) × \(blocks) of granule \(granule)")
        return Sharding(dimension: dimension, parts: parts, index: index, blocks: blocks, granule: granule)
    }

    private init(dimension: Int?, parts: Int, index: Int, blocks: Int, granule: Int) {
        self.dimension = dimension
        self.parts = parts
        self.index = index
        self.blocks = blocks
        self.granule = granule
    }

    /// The units `0..<units` that piece `index` of `parts` holds: balanced and contiguous, the first
    /// `units % parts` pieces one unit more (Megatron's rule for a size tp does not divide). The one rule for
    /// every uneven split: weights, heads, vocabulary columns.
    public static func balancedShare(of units: Int, parts: Int, index: Int) -> Range<Int> {
        let (base, extra) = units.quotientAndRemainder(dividingBy: parts)
        func start(_ i: Int) -> Int { i * base + min(i, extra) }
        return start(index)..<start(index + 1)
    }

    /// The same split held by piece `index` (another rank's view of this tensor).
    public func piece(_ index: Int) -> Sharding {
        guard let dimension else { return self }
        return .split(dimension: dimension, parts: parts, index: index, blocks: blocks, granule: granule)
    }

    /// Whether every rank holds the whole tensor.
    public var isReplicated: Bool { dimension == nil }

    public var description: String {
        guard let dimension else { return "replicated" }
        var text = "split(dim \(dimension), \(index)/\(parts)"
        if blocks > 1 { text += ", \(blocks) blocks" }
        if granule > 1 { text += ", granule \(granule)" }
        return text + ")"
    }

    /// This piece's range of the split dimension inside one block.
    private func blockRange(of shape: [Int]) -> Range<Int> {
        let share = Self.balancedShare(of: shape[dimension!] / (blocks * granule), parts: parts, index: index)
        return share.lowerBound * granule..<share.upperBound * granule
    }

    /// The global indices of the split dimension this piece holds, in local order (one range per block).
    public func ranges(ofGlobal shape: [Int]) -> [Range<Int>] {
        guard let d = dimension else { return [] }
        let range = blockRange(of: shape), blockExtent = shape[d] / blocks
        return (0..<blocks).map { range.lowerBound + $0 * blockExtent..<range.upperBound + $0 * blockExtent }
    }

    /// The local shape for a global tensor of `shape`.
    public func localShape(ofGlobal shape: [Int]) -> [Int] {
        guard let d = dimension else { return shape }
        var local = shape
        local[d] = blocks * blockRange(of: shape).count
        return local
    }

    /// Whether the split dimension exists, divides into `blocks` blocks of whole granules, and gives every
    /// piece at least one granule.
    public func fits(globalShape shape: [Int]) -> Bool {
        guard let d = dimension else { return true }
        guard d >= 0 && d < shape.count else { return false }
        return shape[d] % (blocks * granule) == 0 && shape[d] / (blocks * granule) >= parts
    }

    /// Calls `body(localOffset, globalOffset, count)` for each maximal run of consecutive elements, in
    /// local order; `globalOffset` is the row-major flat index in the global tensor.
    public func forEachRun(globalShape shape: [Int], _ body: (_ localOffset: Int, _ globalOffset: Int, _ count: Int) throws -> Void) rethrows {
        guard let d = dimension else {
            try body(0, 0, shape.reduce(1, *))
            return
        }
        let outer = shape[..<d].reduce(1, *), inner = shape[(d + 1)...].reduce(1, *), size = shape[d]
        let ranges = ranges(ofGlobal: shape), localExtent = ranges.reduce(0) { $0 + $1.count }
        for o in 0..<outer {
            var local = o * localExtent
            for range in ranges {
                try body(local * inner, (o * size + range.lowerBound) * inner, range.count * inner)
                local += range.count
            }
        }
    }
}

extension Sharding: Codable {
    private enum CodingKeys: String, CodingKey { case dimension, parts, index, blocks, granule }
    /// Written before balanced splits replaced vocabulary padding.
    private enum PaddedKeys: String, CodingKey { case paddedExtent }

    /// Reads a split as written; a split saved without `granule` (before uneven splits existed) has granule 1.
    /// - Throws: `DecodingError.dataCorrupted` for a padded split (written before balanced splits replaced
    ///   vocabulary padding), whose pieces this build would place at the wrong indices.
    public init(from decoder: any Decoder) throws {
        let padded = try decoder.container(keyedBy: PaddedKeys.self)
        if try padded.decodeIfPresent(Int.self, forKey: .paddedExtent) != nil {
            throw DecodingError.dataCorrupted(.init(
                codingPath: padded.codingPath + [PaddedKeys.paddedExtent],
                debugDescription: "a padded split, written by a Tessera from before balanced tensor-parallel splits; save it again with that build at tp = 1 or a tp that divides the vocabulary"))
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(dimension: try c.decodeIfPresent(Int.self, forKey: .dimension), parts: try c.decode(Int.self, forKey: .parts),
                  index: try c.decode(Int.self, forKey: .index), blocks: try c.decode(Int.self, forKey: .blocks),
                  granule: try c.decodeIfPresent(Int.self, forKey: .granule) ?? 1)
    }
}
