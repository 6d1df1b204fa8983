import TesseraNN
import TesseraTensor

/// RMSNorm over each token's whole query projection and whole key projection (OLMoE's `q_norm` and `k_norm`),
/// applied in place to the attention projection's output `[tokens, rowStride]` (queries in the first
/// `query.columns` columns, keys right after them) before rotary positions.
///
/// The sums of squares span every head, so the norms need every head on the rank: models with them run at tp = 1
/// (``ParallelAttention`` checks the widths). The weight gradients accumulate directly into the parameters, as the
/// block norms' do.
public struct QueryKeyNorm: @unchecked Sendable {
    /// What one micro-batch's backward needs: the projections before the norms and their row statistics.
    public final class State: @unchecked Sendable {
        /// `[tokens, query.columns]` and `[tokens, key.columns]`: the projections before the norms.
        let queries = FloatBuffer(count: 0)
        let keys = FloatBuffer(count: 0)
        /// `2 × tokens` each, as ``Normalization`` writes them.
        let queryStatistics = FloatBuffer(count: 0)
        let keyStatistics = FloatBuffer(count: 0)
        /// Scratch of one pass: the contiguous normalized rows, or the output and input gradients.
        let scratch = FloatBuffer(count: 0)
        let inputGradient = FloatBuffer(count: 0)

        public init() {}

        /// Bytes the forward pass saved for the backward pass.
        public var savedBytes: Int { [queries, keys, queryStatistics, keyStatistics].reduce(0) { $0 + $1.count * 4 } }
    }

    /// The norm of the query projection, `heads·headDim` columns.
    public let query: Normalization
    /// The norm of the key projection, `kvHeads·headDim` columns.
    public let key: Normalization

    public init(query: Normalization, key: Normalization) {
        precondition(query.kind == .rmsNorm && key.kind == .rmsNorm, "query/key norms are RMSNorms")
        self.query = query
        self.key = key
    }

    /// Normalizes the query and key columns of `projection` `[tokens, rowStride]` in place, keeping what the
    /// backward pass needs in `state`.
    public func forward(_ projection: UnsafeMutablePointer<Float>, rowStride: Int, tokens: Int, state: State,
                        backend: any ComputeBackend) {
        for (norm, offset, raw, statistics) in parts(state) {
            let columns = norm.columns
            raw.reserve(tokens * columns)
            statistics.reserve(2 * tokens)
            state.scratch.reserve(tokens * columns)
            Self.copy(columns, rows: tokens, from: projection + offset, stride: rowStride, to: raw.pointer, stride: columns)
            norm.forward(raw.pointer, into: state.scratch.pointer, statistics: statistics.pointer, rows: tokens, backend: backend)
            Self.copy(columns, rows: tokens, from: state.scratch.pointer, stride: columns, to: projection + offset, stride: rowStride)
        }
    }

    /// Turns the gradient of the normalized query and key columns of `gradient` `[tokens, rowStride]` into the
    /// gradient of the projection, in place, and accumulates the norm weights' gradients.
    public func backward(_ gradient: UnsafeMutablePointer<Float>, rowStride: Int, tokens: Int, state: State,
                         backend: any ComputeBackend) {
        for (norm, offset, raw, statistics) in parts(state) {
            let columns = norm.columns
            state.scratch.reserve(tokens * columns)
            state.inputGradient.reserve(tokens * columns)
            Self.copy(columns, rows: tokens, from: gradient + offset, stride: rowStride, to: state.scratch.pointer, stride: columns)
            norm.backward(state.scratch.pointer, x: raw.pointer, statistics: statistics.pointer, into: state.inputGradient.pointer,
                          rows: tokens, backend: backend)
            Self.copy(columns, rows: tokens, from: state.inputGradient.pointer, stride: columns, to: gradient + offset, stride: rowStride)
        }
    }

    /// Each norm with its first column in a projection row and its saved input and statistics.
    private func parts(_ state: State) -> [(Normalization, Int, FloatBuffer, FloatBuffer)] {
        [(query, 0, state.queries, state.queryStatistics), (key, query.columns, state.keys, state.keyStatistics)]
    }

    /// Copies `columns` floats of each of `rows` rows between two row strides.
    private static func copy(_ columns: Int, rows: Int, from source: UnsafePointer<Float>, stride sourceStride: Int,
                             to destination: UnsafeMutablePointer<Float>, stride destinationStride: Int) {
        for row in 0..<rows {
            (destination + row * destinationStride).update(from: source + row * sourceStride, count: columns)
        }
    }
}
