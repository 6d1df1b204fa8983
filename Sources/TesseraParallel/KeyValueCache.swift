import TesseraNN

/// The keys and values of the tokens decoded so far in one attention layer on one rank, for one sequence:
/// incremental decoding attends new queries to them instead of recomputing the prefix.
public final class KeyValueCache: @unchecked Sendable {
    /// `[capacity, kvHeads·headDim]` (rotated keys).
    public let keys: FloatBuffer
    /// `[capacity, kvHeads·headDim]`.
    public let values: FloatBuffer
    /// Tokens cached; the next token's position.
    public internal(set) var count = 0
    /// Most tokens the cache holds.
    public let capacity: Int
    /// Floats per cached token.
    public let width: Int

    public init(capacity: Int, width: Int) {
        self.capacity = capacity
        self.width = width
        keys = FloatBuffer(count: capacity * width)
        values = FloatBuffer(count: capacity * width)
    }

    /// Forgets every cached token (a new sequence).
    public func reset() { count = 0 }
}
