/// Per-rank memory, for the report printed at start.
public struct MemoryReport: Sendable, Hashable, Codable {
    /// Parameter values on this rank.
    public var parameterBytes: Int
    /// Gradients on this rank.
    public var gradientBytes: Int
    /// AdamW moments on this rank.
    public var optimizerBytes: Int
    /// Activations the forward pass saved for the backward pass, per micro-batch in flight.
    public var activationBytes: Int
}
