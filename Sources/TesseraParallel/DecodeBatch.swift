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
}
