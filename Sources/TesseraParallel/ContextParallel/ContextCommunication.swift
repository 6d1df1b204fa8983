/// How context-parallel attention gets every key and value a rank's queries need.
public enum ContextCommunication: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Key/value blocks travel around the cp group with non-blocking send/receive, overlapped with the attention
    /// on the block at hand; the backward pass passes the key/value gradients around the ring with them.
    case ring
    /// Every rank gathers all keys and values (as Llama 3 did) and reduce-scatters their gradients.
    case allgather
    /// Ulysses (Jacobs et al. 2023): all-to-all from sequence shards to head shards, full-sequence attention
    /// on `heads / cp` heads, all-to-all back. cp must divide the query and key/value heads.
    case a2a

    public var description: String { rawValue }

    /// The attention named `name`.
    /// - Throws: ``ContextParallelError/unknownCommunication(_:)`` listing the names.
    public init(named name: String) throws {
        guard let value = Self(rawValue: name) else { throw ContextParallelError.unknownCommunication(name) }
        self = value
    }
}

/// Deliberate mistakes in context-parallel attention, for tests that show the equivalence checks can fail.
public struct ContextParallelFaults: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The diagonal block (a chunk's queries against its own keys) attends without the causal mask.
    public static let unmaskedDiagonal = ContextParallelFaults(rawValue: 1)
    /// A rank's two chunks are cut from the sequence in swapped order (late chunk first), while attention
    /// and positions assume the zig-zag order.
    public static let swappedChunks = ContextParallelFaults(rawValue: 2)
}
