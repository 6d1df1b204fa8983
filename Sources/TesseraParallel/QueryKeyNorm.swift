import TesseraNN
import TesseraTensor

/// RMSNorm over each token's whole query projection and whole key projection (OLMoE's `q_norm` and `k_norm`),
/// applied in place to the attention projection's output `[tokens, rowStride]` (this rank's query columns first,
/// its key columns right after them) before rotary positions.
///
/// The sums span every head: with heads split over tp, each rank holds its heads' columns of the projections and of
/// the weights, and the per-token sums of squares (forward) and of `dy·w·x` (backward) are all-reduced over the tp
/// group, so every rank normalizes by the whole row. The ranks' key heads must not overlap (no replicated key/value
/// heads). Nothing is communicated on one rank. The weight gradients accumulate directly into the parameters, as the
/// block norms' do.
public struct QueryKeyNorm: @unchecked Sendable {
    /// What one micro-batch's backward needs: the projections before the norms and each row's `1/rms`.
    public final class State: @unchecked Sendable {
        /// `[tokens, query.columns]` and `[tokens, key.columns]`: this rank's projections before the norms.
        let queries = FloatBuffer(count: 0)
        let keys = FloatBuffer(count: 0)
        /// `[tokens]` each: `1 / √(mean of squares over the whole row + ε)`.
        let queryScales = FloatBuffer(count: 0)
        let keyScales = FloatBuffer(count: 0)
        /// `[tokens]` scratch of the backward pass's row sums.
        let sums = FloatBuffer(count: 0)

        public init() {}

        /// Bytes the forward pass saved for the backward pass.
        public var savedBytes: Int { [queries, keys, queryScales, keyScales].reduce(0) { $0 + $1.count * 4 } }
    }

    /// The norm of this rank's query columns (its weight shard and ε).
    public let query: Normalization
    /// The norm of this rank's key columns.
    public let key: Normalization
    /// Columns of the whole query and key projections (every head): the means' divisors.
    public let queryColumns: Int, keyColumns: Int
    /// The group the heads are split over (tp).
    public let group: AxisGroup

    /// - Parameters:
    ///   - queryColumns, keyColumns: the whole projections' widths (default: this rank's, for one rank).
    public init(query: Normalization, key: Normalization, queryColumns: Int? = nil, keyColumns: Int? = nil, group: AxisGroup = .single) {
        precondition(query.kind == .rmsNorm && key.kind == .rmsNorm, "query/key norms are RMSNorms")
        self.query = query
        self.key = key
        self.queryColumns = queryColumns ?? query.columns
        self.keyColumns = keyColumns ?? key.columns
        self.group = group
    }

    /// Normalizes the query and key columns of `projection` `[tokens, rowStride]` in place, keeping what the
    /// backward pass needs in `state`.
    /// - Throws: ``CollectiveError`` when a tp peer fails.
    public func forward(_ projection: UnsafeMutablePointer<Float>, rowStride: Int, tokens: Int, state: State) throws {
        for part in parts(state) {
            let n = part.norm.columns, weight = part.norm.weight.value.baseAddress!
            part.input.reserve(tokens * n)
            part.scales.reserve(tokens)
            let x = part.input.pointer, scales = part.scales.pointer
            for t in 0..<tokens {
                let row = projection + t * rowStride + part.offset
                (x + t * n).update(from: row, count: n)
                scales[t] = Float((0..<n).reduce(0.0) { $0 + Double(row[$1]) * Double(row[$1]) })
            }
            try group.allReduce(part.scales.mutableElements, operation: .sum)
            for t in 0..<tokens {
                let scale = 1 / (scales[t] / Float(part.columns) + part.norm.epsilon).squareRoot()
                scales[t] = scale
                let row = projection + t * rowStride + part.offset
                for j in 0..<n { row[j] = x[t * n + j] * scale * weight[j] }
            }
        }
    }

    /// Turns the gradient of the normalized query and key columns of `gradient` `[tokens, rowStride]` into the
    /// gradient of the projection, in place, and accumulates the norm weights' gradients:
    /// `dx = s·w·dy − x·s³·Σ_row(w·dy·x) / columns` with `s = 1/rms`, the row sum over every rank's columns.
    /// - Throws: ``CollectiveError`` when a tp peer fails.
    public func backward(_ gradient: UnsafeMutablePointer<Float>, rowStride: Int, tokens: Int, state: State) throws {
        for part in parts(state) {
            let n = part.norm.columns, weight = part.norm.weight.value.baseAddress!, dWeight = part.norm.weight.gradient.baseAddress!
            let x = part.input.pointer, scales = part.scales.pointer
            state.sums.reserve(tokens)
            let sums = state.sums.pointer
            for t in 0..<tokens {
                let dy = gradient + t * rowStride + part.offset
                sums[t] = Float((0..<n).reduce(0.0) { $0 + Double(dy[$1]) * Double(weight[$1]) * Double(x[t * n + $1]) })
            }
            try group.allReduce(state.sums.mutableElements, operation: .sum)
            for t in 0..<tokens {
                let dy = gradient + t * rowStride + part.offset, s = scales[t]
                let correction = sums[t] * s * s * s / Float(part.columns)
                for j in 0..<n {
                    let xj = x[t * n + j]
                    dWeight[j] += dy[j] * xj * s
                    dy[j] = s * weight[j] * dy[j] - xj * correction
                }
            }
        }
    }

    /// Each norm with its first column in a projection row, its whole width and its saved input and scales.
    private func parts(_ state: State) -> [(norm: Normalization, offset: Int, columns: Int, input: FloatBuffer, scales: FloatBuffer)] {
        [(query, 0, queryColumns, state.queries, state.queryScales), (key, query.columns, keyColumns, state.keys, state.keyScales)]
    }
}
