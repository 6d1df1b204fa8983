/// Which consecutive layers each model chunk holds.
///
/// Model chunk `c · stages + r` lives on rank `r` as its local chunk `c` (see ``PipelineSchedule``), so
/// without virtual stages chunk `r` is simply stage `r`. Chunk 0 also holds the embedding and the last
/// chunk the final norm and LM head.
public struct StagePartition: Hashable, Codable, Sendable, CustomStringConvertible {
    public let stages: Int
    public let virtualStages: Int
    /// `layers[modelChunk]`: the transformer layers of that chunk; together they cover `0..<layerCount`.
    public let layers: [Range<Int>]

    /// The layers on `rank`'s local `chunk`.
    public func layers(rank: Int, chunk: Int = 0) -> Range<Int> { layers[chunk * stages + rank] }

    /// Number of layers in all chunks.
    public var layerCount: Int { layers.last?.upperBound ?? 0 }

    /// The layer counts per model chunk, in the `"5,6,6,5"` form the explicit layout takes.
    public var layout: String { layers.map { String($0.count) }.joined(separator: ",") }

    public var description: String { layout }

    /// An explicit layout: layer counts per model chunk, comma-separated, e.g. `"5,6,6,5"`.
    /// - Throws: ``PipelineError/invalidLayout(layout:reason:)`` when the text is not a list of
    ///   `stages · virtualStages` positive integers summing to `layers`; ``PipelineError/invalidParameter(name:value:fix:)``
    ///   when `stages` or `virtualStages` is below 1.
    public init(layout: String, layers: Int, stages: Int, virtualStages: Int = 1) throws {
        try Self.checkShape(stages: stages, virtualStages: virtualStages)
        let chunks = stages * virtualStages
        let fields = layout.split(separator: ",", omittingEmptySubsequences: false)
            .map { String($0.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
        guard fields.count == chunks else {
            throw PipelineError.invalidLayout(layout: layout, reason: "it has \(fields.count) entries but \(stages) stages"
                + (virtualStages > 1 ? " × \(virtualStages) virtual stages" : "") + " need \(chunks), one layer count per "
                + (virtualStages > 1 ? "model chunk" : "stage"))
        }
        var counts: [Int] = []
        for field in fields {
            guard let count = Int(field) else {
                throw PipelineError.invalidLayout(layout: layout, reason: "'\(field)' is not a whole number of layers")
            }
            guard count >= 1 else {
                throw PipelineError.invalidLayout(layout: layout, reason: "every stage needs at least 1 layer, found \(count)")
            }
            counts.append(count)
        }
        let total = counts.reduce(0, +)
        guard total == layers else {
            throw PipelineError.invalidLayout(layout: layout, reason: "the counts sum to \(total) but the model has \(layers) layers")
        }
        self.init(stages: stages, virtualStages: virtualStages, counts: counts)
    }

    /// The contiguous split of the layers that minimizes the most expensive chunk, counting the embedding on
    /// chunk 0 and the LM head on the last chunk; ties go to the split with the smaller sum of squared chunk
    /// costs (the evener one). Uneven layer counts are allowed and expected when the head is expensive.
    ///
    /// - Parameters:
    ///   - layerCosts: the estimated cost of each layer (e.g. its FLOPs or measured time), in model order.
    ///   - embeddingCost: the cost the embedding adds to the first chunk.
    ///   - headCost: the cost the final norm, LM head and loss add to the last chunk.
    /// - Throws: ``PipelineError/invalidParameter(name:value:fix:)`` when there are fewer layers than chunks,
    ///   when `stages` or `virtualStages` is below 1, or a cost is negative or not finite.
    public init(balancing layerCosts: [Double], stages: Int, virtualStages: Int = 1,
                embeddingCost: Double = 0, headCost: Double = 0) throws {
        try Self.checkShape(stages: stages, virtualStages: virtualStages)
        let chunks = stages * virtualStages
        guard layerCosts.count >= chunks else {
            throw PipelineError.invalidParameter(
                name: "layers", value: layerCosts.count,
                fix: "every model chunk needs at least one layer; use at most \(layerCosts.count) stages × virtual stages, not \(chunks)")
        }
        guard (layerCosts + [embeddingCost, headCost]).allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw PipelineError.invalidCosts(reason: "layer, embedding and head costs must be finite numbers ≥ 0")
        }
        self.init(stages: stages, virtualStages: virtualStages,
                  counts: Self.balancedCounts(layerCosts, chunks: chunks, embeddingCost: embeddingCost, headCost: headCost))
    }

    /// Layers of equal cost, split by ``init(balancing:stages:virtualStages:embeddingCost:headCost:)``;
    /// costs are in units of one layer.
    public init(layers: Int, stages: Int, virtualStages: Int = 1, embeddingCost: Double = 0, headCost: Double = 0) throws {
        try self.init(balancing: Array(repeating: 1, count: max(layers, 0)), stages: stages,
                      virtualStages: virtualStages, embeddingCost: embeddingCost, headCost: headCost)
    }

    /// Each chunk's cost under `layerCosts`, with the embedding on chunk 0 and the head on the last.
    public func chunkCosts(layerCosts: [Double], embeddingCost: Double = 0, headCost: Double = 0) -> [Double] {
        var costs = layers.map { range in range.reduce(0.0) { $0 + layerCosts[$1] } }
        costs[0] += embeddingCost
        costs[costs.count - 1] += headCost
        return costs
    }

    private init(stages: Int, virtualStages: Int, counts: [Int]) {
        self.stages = stages
        self.virtualStages = virtualStages
        var start = 0
        layers = counts.map { count in
            defer { start += count }
            return start..<(start + count)
        }
    }

    private static func checkShape(stages: Int, virtualStages: Int) throws {
        guard stages >= 1 else {
            throw PipelineError.invalidParameter(name: "stages", value: stages, fix: "use at least 1 pipeline stage")
        }
        guard virtualStages >= 1 else {
            throw PipelineError.invalidParameter(name: "virtual-stages", value: virtualStages, fix: "use at least 1 model chunk per stage")
        }
    }

    /// Exact minimax split by dynamic programming over (chunks used, layers used): O(chunks · L²).
    private static func balancedCounts(_ costs: [Double], chunks: Int, embeddingCost: Double, headCost: Double) -> [Int] {
        let count = costs.count
        var prefix = [0.0]
        for cost in costs { prefix.append(prefix.last! + cost) }
        func chunkCost(_ chunk: Int, _ from: Int, _ to: Int) -> Double {
            prefix[to] - prefix[from] + (chunk == 0 ? embeddingCost : 0) + (chunk == chunks - 1 ? headCost : 0)
        }
        // best[k][i]: (max, sum of squares) for the first i layers in k chunks; cut[k][i]: where chunk k−1 starts.
        let worst = (Double.infinity, Double.infinity)
        var best = Array(repeating: Array(repeating: worst, count: count + 1), count: chunks + 1)
        var cut = Array(repeating: Array(repeating: 0, count: count + 1), count: chunks + 1)
        best[0][0] = (0, 0)
        for k in 1...chunks {
            for i in k...(count - (chunks - k)) {
                for j in (k - 1)..<i where best[k - 1][j].0.isFinite {
                    let cost = chunkCost(k - 1, j, i)
                    let candidate = (max(best[k - 1][j].0, cost), best[k - 1][j].1 + cost * cost)
                    if candidate < best[k][i] {
                        best[k][i] = candidate
                        cut[k][i] = j
                    }
                }
            }
        }
        var counts: [Int] = [], end = count
        for k in stride(from: chunks, to: 0, by: -1) {
            counts.append(end - cut[k][end])
            end = cut[k][end]
        }
        return counts.reversed()
    }
}
