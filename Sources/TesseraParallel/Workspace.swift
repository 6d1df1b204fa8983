import TesseraNN

/// Scratch buffers that live for one layer call on one rank (shared by every micro-batch state, since a
/// rank runs one pass at a time). Pointers into it are valid only until the next layer call.
public final class Workspace: @unchecked Sendable {
    /// The all-gathered input of a column-parallel linear (sequence parallelism).
    public let gathered = FloatBuffer(count: 0)
    /// Partial sums before a reduction.
    public let partial = FloatBuffer(count: 0)
    /// Results of row reductions and gathers.
    public let reduced = FloatBuffer(count: 0)
    /// A second result buffer for backward passes.
    public let gradient = FloatBuffer(count: 0)

    public init() {}

    /// Bytes held.
    public var byteCount: Int { [gathered, partial, reduced, gradient].reduce(0) { $0 + $1.byteCount } }
}
