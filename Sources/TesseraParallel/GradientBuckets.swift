import TesseraNN

/// A run of whole, consecutive parameters of a ``ParameterStore`` whose gradients are reduced over
/// data parallelism in one collective.
public struct GradientBucket: Sendable, Hashable {
    /// Indices into ``ParameterStore/parameters``.
    public let parameters: Range<Int>
    /// The flat range of the store's gradients.
    public let range: Range<Int>
    /// Whether the bucket waits for an explicit launch at the end of the backward pass (the tied embedding,
    /// whose gradient is first summed between the first and the last stage).
    public let isDeferred: Bool
    /// Whether the bucket holds expert weights (``ParameterSpec/isExpert``), reduced over the expert-data-parallel
    /// group instead of dp. A bucket never mixes expert and dense parameters.
    public let isExpert: Bool

    /// Elements in the bucket.
    public var count: Int { range.count }

    /// The part of the bucket data-parallel rank `rank` of `ranks` owns under ZeRO-1: the `rank`-th of
    /// `ranks` slices of `⌈count / ranks⌉` elements (the last slices may be short or empty).
    public func shard(rank: Int, of ranks: Int) -> Range<Int> {
        let size = shardSize(ranks: ranks)
        let start = min(range.upperBound, range.lowerBound + rank * size)
        return start..<min(range.upperBound, start + size)
    }

    /// Elements per ZeRO-1 slice: `⌈count / ranks⌉`.
    public func shardSize(ranks: Int) -> Int { (count + ranks - 1) / ranks }

    /// Splits `store` into buckets of about `capacity` elements, from its last parameter to its first (the
    /// order in which a backward pass finalizes them), giving each parameter in `deferred` a bucket of its
    /// own and never putting expert and dense parameters in one bucket. A parameter larger than `capacity` gets a
    /// bucket to itself.
    ///
    /// A sharded parameter is counted as its even share (global elements / pieces), which is its local size when
    /// tp divides it and the same number on every tp rank when it does not, so every tp rank makes the same
    /// buckets and their tp sums (``TensorParallelGradients``) meet in order.
    /// - Returns: buckets in launch order: the highest flat offsets first.
    public static func plan(_ store: ParameterStore, capacity: Int, deferred: Set<Int> = []) -> [GradientBucket] {
        var buckets: [GradientBucket] = []
        var end = store.parameters.count, elements = 0
        func close(at start: Int, deferred: Bool = false) {
            guard start < end else { return }
            let first = store.parameters[start], last = store.parameters[end - 1]
            buckets.append(GradientBucket(parameters: start..<end, range: first.offset..<last.offset + last.count, isDeferred: deferred,
                                          isExpert: first.spec.isExpert))
            end = start
            elements = 0
        }
        for index in stride(from: store.parameters.count - 1, through: 0, by: -1) {
            if deferred.contains(index) {
                close(at: index + 1)
                close(at: index, deferred: true)
                continue
            }
            let spec = store.parameters[index].spec, global = spec.globalShape.reduce(1, *)
            let count = spec.sharding.isReplicated ? global : global / spec.sharding.parts
            let changesKind = index + 1 < end && store.parameters[index + 1].spec.isExpert != spec.isExpert
            if elements > 0 && (elements + count > capacity || changesKind) { close(at: index + 1) }
            elements += count
        }
        close(at: 0)
        return buckets
    }
}
