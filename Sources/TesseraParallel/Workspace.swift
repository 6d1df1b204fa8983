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

    private var overlap: Workspace?

    public init() {}

    /// A second set of scratch buffers, for work that runs while a communication in flight still uses this one's
    /// (the shared expert during the experts' all-to-all); created on first use.
    public var overlapped: Workspace {
        if let overlap { return overlap }
        let created = Workspace()
        overlap = created
        return created
    }

    /// Bytes held (the overlapped set's included).
    public var byteCount: Int { [gathered, partial, reduced, gradient].reduce(0) { $0 + $1.byteCount } + (overlap?.byteCount ?? 0) }
}
