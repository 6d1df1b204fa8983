/// The rows of one batched decoding step: the new tokens of several sequences stacked into one matrix (a prompt
/// chunk, or the one token each running sequence generated last), so every linear layer runs once on all of them
/// while attention runs per sequence over its own key/value blocks.
public struct DecodeBatch: Sendable {
    /// One sequence's rows.
    public struct Segment: Sendable {
        /// The sequence's blocks (already reserved for `start + rows.count` tokens).
        public let table: KVBlockTable
        /// Its rows in the stacked matrix.
        public let rows: Range<Int>
        /// Position of its first row (tokens it had cached before this step).
        public let start: Int
    }

    /// Token ids, row by row.
    public let tokens: [Int32]
    /// Each row's position in its sequence.
    public let positions: [Int32]
    public let segments: [Segment]

    /// Stacks `sequences` in order: each table's new `tokens` continue the `table.count` it holds.
    public init(_ sequences: [(table: KVBlockTable, tokens: [Int32])]) {
        var tokens: [Int32] = [], positions: [Int32] = [], segments: [Segment] = []
        for (table, new) in sequences {
            segments.append(Segment(table: table, rows: tokens.count..<tokens.count + new.count, start: table.count))
            tokens += new
            positions += (table.count..<table.count + new.count).map { Int32($0) }
        }
        self.tokens = tokens
        self.positions = positions
        self.segments = segments
    }

    /// Rows of the stacked matrix.
    public var rows: Int { tokens.count }

    /// Splits segments with `rows` rows each (in order) into `min(groups, rows.count)` consecutive, non-empty groups
    /// of about equal rows, the micro-batches of a pipelined step: group `j` of `k` ends at the first segment where
    /// the running total reaches `(j + 1) / k` of all rows, leaving at least one segment for each later group.
    /// No segments make one empty group.
    public static func groups(rows: [Int], into groups: Int) -> [Range<Int>] {
        let k = max(1, min(groups, rows.count)), total = rows.reduce(0, +)
        var ranges: [Range<Int>] = [], start = 0, sum = 0
        for j in 0..<k - 1 {
            var end = start + 1
            sum += rows[start]
            while end < rows.count - (k - 1 - j) && sum * k < total * (j + 1) {
                sum += rows[end]
                end += 1
            }
            ranges.append(start..<end)
            start = end
        }
        return ranges + [start..<rows.count]
    }
}
