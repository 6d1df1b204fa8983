import TesseraNN

/// How a model is split over `tp` tensor-parallel ranks when tp divides none of its sizes: the shares every
/// layer, the parameter layout, the memory prediction and checkpoint loading read. Pure functions of the
/// configuration, `tp` and the rank.
///
/// - **MLP features and vocabulary**: balanced contiguous shares (``Sharding/balancedShare(of:parts:index:)``:
///   the first `n % tp` ranks hold one more).
/// - **Query heads**: balanced contiguous shares of whole heads (SmolLM2's 9 heads on tp = 2: 5 + 4).
/// - **Key/value heads**: a rank computes exactly the key/value heads its query heads read,
///   `firstQuery / group ... lastQuery / group` (`group = heads / kvHeads`), so each query head stays with
///   its key/value head. When every rank's query heads are whole groups (`kvHeads % tp == 0`, or no grouping)
///   those ranges are disjoint and the key/value weights are split with them. Otherwise a group straddles two
///   ranks (always when tp > kvHeads): every rank holds the key/value weights whole, computes its heads'
///   slice, and the partial gradients are summed over tp, as Megatron does for tp > kvHeads
///   (SmolLM2 on tp = 2: rank 0 computes key/value heads 0–1, rank 1 heads 1–2).
///
/// Why query heads and not whole key/value groups are balanced: the attention's work and activations (query
/// and output projections, the attention core) grow with the query heads, while a key/value head costs
/// `1/group` of its queries' projection. Whole groups would give SmolLM2 6 + 3 query heads on tp = 2, one
/// rank doing twice the other's attention; balanced query heads cost at most one key/value head computed
/// twice at each end of a rank's range.
extension TransformerConfig {
    /// The query heads tensor-parallel rank `rank` of `tp` computes.
    public func queryHeads(tp: Int, rank: Int) -> Range<Int> {
        Sharding.balancedShare(of: attention.heads, parts: tp, index: rank)
    }

    /// The key/value heads that rank's query heads read: the ones it computes.
    public func keyValueHeads(tp: Int, rank: Int) -> Range<Int> {
        let queries = queryHeads(tp: tp, rank: rank), group = attention.heads / attention.kvHeads
        return queries.lowerBound / group..<(queries.upperBound - 1) / group + 1
    }

    /// Whether the key/value projections are replicated over tp (some key/value head serves query heads on two ranks).
    public func replicatesKeyValueHeads(tp: Int) -> Bool {
        tp > 1 && attention.kvHeads % tp != 0 && attention.kvHeads != attention.heads
    }

    /// The MLP features rank `rank` of `tp` holds.
    public func mlpFeatures(tp: Int, rank: Int) -> Range<Int> {
        Sharding.balancedShare(of: mlp.intermediateSize, parts: tp, index: rank)
    }

    /// The vocabulary rows (embedding) and columns (logits) rank `rank` of `tp` holds.
    public func vocabularyShare(tp: Int, rank: Int) -> Range<Int> {
        Sharding.balancedShare(of: vocabularySize, parts: tp, index: rank)
    }

    /// The tensor-parallel sizes this model can be split over (up to `limit`): every tp that leaves each rank
    /// at least one query head, MLP feature and vocabulary entry (and, with query/key norms, shares no key head).
    public func validTensorParallelSizes(limit: Int = 64) -> [Int] {
        Array(1...max(1, min(limit, tensorParallelLimit.count))).filter { !sharesKeyHeadsUnderQueryKeyNorms(tp: $0) }
    }

    /// Whether `tp` would replicate key/value heads of a model whose key norm sums over every key head once.
    private func sharesKeyHeadsUnderQueryKeyNorms(tp: Int) -> Bool {
        family.attention.queryKeyNorms && replicatesKeyValueHeads(tp: tp)
    }

    /// Checks that the model splits over `tp` ranks.
    /// - Throws: ``ModelError/tensorParallelTooLarge(what:count:tp:)`` when a rank would hold no query head
    ///   (no MLP feature, no vocabulary entry); ``ModelError/invalidConfiguration(field:reason:)`` for a tp that
    ///   replicates key/value heads of a model with query/key norms (the key norm's sum would count shared heads on
    ///   several ranks).
    public func validate(tp: Int) throws {
        try validate()
        guard tp >= 1 else { throw ModelError.invalidConfiguration(field: "tp", reason: "\(tp) must be at least 1") }
        let limit = tensorParallelLimit
        if tp > limit.count { throw ModelError.tensorParallelTooLarge(what: limit.what, count: limit.count, tp: tp) }
        if sharesKeyHeadsUnderQueryKeyNorms(tp: tp) {
            let valid = validTensorParallelSizes().map(String.init).joined(separator: ", ")
            throw ModelError.invalidConfiguration(
                field: "tp", reason: "\(tp) does not divide the \(attention.kvHeads) key/value heads, so ranks would share key heads, but \(family.name) normalizes its whole key projection (k_norm sums every key head once); use tp ∈ {\(valid)}")
        }
    }

    /// The smallest size tp splits: the query heads, unless a model has fewer MLP (or shared-expert) features or
    /// vocabulary entries. (Experts split over tp check their own features: `ExpertError`.)
    private var tensorParallelLimit: (what: String, count: Int) {
        let shared = moe?.sharedExpertIntermediateSize.map { [("shared-expert intermediate features", $0)] } ?? []
        return ([("attention heads", attention.heads), ("intermediate (MLP) features", mlp.intermediateSize),
                 ("vocabulary entries", vocabularySize)] + shared).min { $0.1 < $1.1 }!
    }
}
