/// The pure index math of dispatch and combine: the routed slots of a routing grouped by expert.
///
/// A slot is `t · topK + k` (token `t`'s `k`-th choice). Dispatch order lists every kept slot grouped by expert in
/// ascending expert order and, within an expert, in slot order; dropped slots are left out. Since the experts of
/// expert-parallel rank `r` are the `r`-th block of `experts / ep` consecutive ids, the rows for each rank are then one
/// contiguous block too, in rank order: exactly the layout an all-to-all sends.
public struct ExpertPermutation: Sendable, Hashable {
    /// Dispatch order: the slot each row comes from.
    public let slots: [Int32]
    /// The inverse: each slot's row in dispatch order, or -1 for a dropped slot (`[tokens, topK]`).
    public let rowOfSlot: [Int32]
    /// Rows of each expert (`[experts]`).
    public let rowsPerExpert: [Int]
    /// Experts per token.
    public let topK: Int

    /// Groups the slots of `ids` (`[tokens, topK]`, values in `-1 ..< experts`) by expert with a counting sort.
    public init(ids: [Int32], topK: Int, experts: Int) {
        var counts = [Int](repeating: 0, count: experts)
        for id in ids where id >= 0 { counts[Int(id)] += 1 }
        var next = [Int](repeating: 0, count: experts)
        for e in 1..<max(1, experts) { next[e] = next[e - 1] + counts[e - 1] }
        var slots = [Int32](repeating: 0, count: counts.reduce(0, +))
        var rowOfSlot = [Int32](repeating: -1, count: ids.count)
        for (slot, id) in ids.enumerated() where id >= 0 {
            let row = next[Int(id)]
            next[Int(id)] += 1
            slots[row] = Int32(slot)
            rowOfSlot[slot] = Int32(row)
        }
        self.slots = slots
        self.rowOfSlot = rowOfSlot
        self.rowsPerExpert = counts
        self.topK = topK
    }

    /// Rows in dispatch order.
    public var rows: Int { slots.count }

    /// The token of each row in dispatch order (the input row it carries).
    public var tokenOfRow: [Int32] { slots.map { $0 / Int32(topK) } }

    /// Rows for each of `ranks` expert-parallel ranks, each holding `rowsPerExpert.count / ranks` consecutive experts.
    public func rowsPerRank(ranks: Int) -> [Int] {
        let perRank = rowsPerExpert.count / ranks
        return (0..<ranks).map { r in rowsPerExpert[r * perRank..<(r + 1) * perRank].reduce(0, +) }
    }

    /// The expert-major order of rows an expert-parallel rank received: `counts[s][e]` rows for its local expert `e`
    /// came from source rank `s`, source after source and expert after expert within a source. Returns, for each row
    /// of the expert-major layout (expert after expert, source after source within an expert), its row in the
    /// received layout.
    public static func expertMajorOrder(counts: [[Int]]) -> [Int32] {
        let experts = counts.first?.count ?? 0
        var start = [[Int]](repeating: [Int](repeating: 0, count: experts), count: counts.count)
        var offset = 0
        for s in counts.indices {
            for e in 0..<experts {
                start[s][e] = offset
                offset += counts[s][e]
            }
        }
        var order: [Int32] = []
        order.reserveCapacity(offset)
        for e in 0..<experts {
            for s in counts.indices {
                order += (start[s][e]..<start[s][e] + counts[s][e]).map { Int32($0) }
            }
        }
        return order
    }

    /// The inverse of a permutation of `0 ..< order.count`.
    public static func inverse(of order: [Int32]) -> [Int32] {
        var inverse = [Int32](repeating: 0, count: order.count)
        for (i, j) in order.enumerated() { inverse[Int(j)] = Int32(i) }
        return inverse
    }
}
