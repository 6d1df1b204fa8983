/// One rank's share of every sequence under context parallelism: the zig-zag split.
///
/// A sequence of `length` tokens is cut into `2·ranks` contiguous chunks (the first `length mod 2·ranks` chunks one
/// token longer, so any length works without padding); rank `r` holds chunks `r` and `2·ranks − 1 − r`, in that
/// order, so every rank gets one early and one late chunk and causal attention costs the ranks about the same
/// (Liu et al. 2023, "Ring Attention"; the zig-zag order of Megatron-Core's context parallelism). The local rows
/// of a micro-batch are `[batch, localLength]`: each sequence's first chunk, then its second.
public struct ContextShard: Sendable, Hashable {
    /// Tokens per sequence (`T`).
    public let length: Int
    /// Ranks of the context-parallel group (`N`).
    public let ranks: Int
    /// This rank's position in the group.
    public let rank: Int
    /// The sequence position of each of this rank's local rows (`[localLength]`).
    public let positions: [Int]

    /// - Throws: ``ContextParallelError/sequenceTooShort(length:cp:)`` when a rank would hold no token
    ///   (`length < ranks`).
    public init(length: Int, ranks: Int, rank: Int) throws {
        guard ranks >= 1, (0..<ranks).contains(rank) else {
            preconditionFailure("rank \(rank) outside a context-parallel group of \(ranks)")
        }
        guard length >= ranks else { throw ContextParallelError.sequenceTooShort(length: length, cp: ranks) }
        self.length = length
        self.ranks = ranks
        self.rank = rank
        positions = [rank, 2 * ranks - 1 - rank].flatMap { Array(Self.chunk($0, length: length, ranks: ranks)) }
    }

    /// The positions of chunk `index` (of `2·ranks`) of a sequence of `length` tokens.
    static func chunk(_ index: Int, length: Int, ranks: Int) -> Range<Int> {
        let count = 2 * ranks, base = length / count, extra = length % count
        let start = index * base + min(index, extra)
        return start..<start + base + (index < extra ? 1 : 0)
    }

    /// The positions of chunk `index` (of `2·ranks`).
    public func chunk(_ index: Int) -> Range<Int> { Self.chunk(index, length: length, ranks: ranks) }

    /// The chunks rank `r` holds, in local order.
    public func chunks(ofRank r: Int) -> [Int] { [r, 2 * ranks - 1 - r] }

    /// Tokens per sequence on rank `r`.
    public func localLength(ofRank r: Int) -> Int { chunks(ofRank: r).reduce(0) { $0 + chunk($1).count } }

    /// Tokens per sequence on this rank.
    public var localLength: Int { positions.count }

    /// The local row (within one sequence) where part `part` (0 or 1) of rank `r` starts.
    public func localStart(part: Int, rank r: Int) -> Int { part == 0 ? 0 : chunk(r).count }

    /// The sequence positions of rank `r`'s local rows.
    public func positions(ofRank r: Int) -> [Int] { chunks(ofRank: r).flatMap { Array(chunk($0)) } }
}
