import TesseraCollectives
import TesseraNN

/// The gradient reductions a ``DataParallelReducer`` performs. Training always uses ``all``; tests leave one
/// out to show that the equivalence tests catch a missing reduction.
public struct GradientSynchronization: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The sum over data-parallel replicas.
    public static let dataParallel = GradientSynchronization(rawValue: 1)
    /// The sum of a tied embedding between the first and the last pipeline stage.
    public static let embedding = GradientSynchronization(rawValue: 2)
    /// The sum over tp of the partial gradients of tp-replicated parameters.
    public static let tensorParallelPartial = GradientSynchronization(rawValue: 4)
    /// The sum of mixture-of-experts router statistics over dp × cp and along the pipeline, so that the load-balancing
    /// loss and its gradient are the whole micro-batch's over every layer (without it each rank's router losses see
    /// only its own tokens and its own stage's layers).
    public static let routerStatistics = GradientSynchronization(rawValue: 8)
    /// The gather of each sequence's expert routing over the ranks holding its parts (sequence and context
    /// parallelism), so that an expert capacity counts whole sequences (``LayerContext/capacityGroups``).
    public static let routerCapacity = GradientSynchronization(rawValue: 16)
    public static let all: GradientSynchronization = [.dataParallel, .embedding, .tensorParallelPartial, .routerStatistics, .routerCapacity]
}

/// Reduces one rank's gradients over its data-parallel group in buckets, overlapped with the backward
/// pass (PyTorch DDP's and Megatron's bucketing, Li et al. 2020, "PyTorch Distributed", §3.2.3).
///
/// The work tells the reducer which parameters' gradients are final (``markFinal(parameters:)``); each
/// bucket whose parameters are all final is started at once with the non-blocking API: an all-reduce
/// (ZeRO 0) or a reduce-scatter onto this rank's slice (ZeRO 1). Before that, partial gradients of
/// tp-replicated parameters in the bucket (sequence-parallel norms and biases, replicated key/value
/// heads) are summed over tp. ``finish()`` starts what is left, sums the deferred tied-embedding buckets
/// over the embedding group (first and last stage) first, and waits for everything.
///
/// Every rank of a data-parallel group holds the same parameters and sees the same calls in the same
/// order, so the buckets meet in order. Each rank scaled its loss by `1 / tokens in the global batch`, so
/// the sum over dp is the global mean. Expert weights (``ParameterSpec/isExpert``; their buckets hold nothing else)
/// are held by `1/ep` of the data-parallel ranks: their buckets are reduced over the expert-data-parallel group
/// (``LayerContext/expertData``) instead, and with ZeRO 1 sharded over it.
public final class DataParallelReducer {
    public let buckets: [GradientBucket]
    /// 0: every rank ends with the whole reduced gradient; 1: only its slices (``ownedRanges``) are valid.
    public let zeroStage: Int
    /// The data-parallel group, or `nil` without data parallelism.
    public let group: (any Communicator)?
    private let store: ParameterStore
    private let context: LayerContext
    private let embedding: (any Communicator)?
    private let synchronization: GradientSynchronization
    private var isFinal: [Bool]
    private var isStarted: [Bool]
    private var pending: [(bucket: Int, request: any CollectiveRequest)] = []
    /// ZeRO-1: the reduced slice of each bucket until it is copied into the store's gradients.
    private let slices: [FloatBuffer]
    /// ZeRO-1: a zero-padded copy of the buckets whose size does not divide by dp.
    private var staging: [Int: FloatBuffer] = [:]
    private let scratch = FloatBuffer(count: 0)
    private var clock = ContinuousClock()
    /// Seconds the last ``finish()`` waited for reductions that had not completed during the backward pass.
    public private(set) var exposedSeconds = 0.0

    /// - Parameters:
    ///   - group: the data-parallel group (`nil` or one rank: only tp sums and embedding sums happen).
    ///   - context: its ``LayerContext/expertData`` group reduces the expert buckets.
    ///   - tp: where partial gradients are summed (``GradientReduction/sumOverTensorParallel``).
    ///   - embedding: the embedding group (first and last stage); its tied parameters are `deferred`.
    ///   - deferred: indices of the parameters summed over `embedding` before their data-parallel reduction.
    ///   - bucketElements: target bucket size.
    ///   - synchronization: the reductions to perform (tests leave one out).
    public init(store: ParameterStore, group: (any Communicator)?, context: LayerContext, embedding: (any Communicator)?,
                deferred: Set<Int>, zeroStage: Int, bucketElements: Int, synchronization: GradientSynchronization = .all) {
        self.store = store
        self.synchronization = synchronization
        self.group = group
        self.context = context
        self.embedding = embedding
        self.zeroStage = zeroStage
        buckets = GradientBucket.plan(store, capacity: bucketElements, deferred: deferred)
        isFinal = Array(repeating: false, count: store.parameters.count)
        isStarted = Array(repeating: false, count: buckets.count)
        let sizes = buckets.map { ($0.isExpert ? context.expertData.group : group)?.size ?? 1 }
        slices = zip(buckets, sizes).map { FloatBuffer(count: zeroStage == 1 ? $0.shardSize(ranks: $1) : 0) }
        for (index, (bucket, ranks)) in zip(buckets, sizes).enumerated()
        where zeroStage == 1 && bucket.shardSize(ranks: ranks) * ranks != bucket.count {
            staging[index] = FloatBuffer(count: bucket.shardSize(ranks: ranks) * ranks)
        }
    }

    /// The group `bucket` is reduced over: dp, or the expert-data-parallel group for expert weights.
    private func group(of bucket: GradientBucket) -> (any Communicator)? { bucket.isExpert ? context.expertData.group : group }
    private func ranks(of bucket: GradientBucket) -> Int { group(of: bucket)?.size ?? 1 }
    private func rank(of bucket: GradientBucket) -> Int { group(of: bucket)?.rank ?? 0 }

    /// The flat ranges whose reduced gradients this rank holds after ``finish()`` and whose values it
    /// updates: everything (ZeRO 0) or its slice of each bucket (ZeRO 1), in store order.
    public var ownedRanges: [Range<Int>] {
        guard zeroStage == 1 else { return [0..<store.count] }
        return buckets.map { $0.shard(rank: rank(of: $0), of: ranks(of: $0)) }.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
    }

    /// Forgets the previous step; call before the first backward of a step.
    public func beginStep() {
        for i in isFinal.indices { isFinal[i] = false }
        for i in isStarted.indices { isStarted[i] = false }
        exposedSeconds = 0
    }

    /// Records that the gradients of `parameters` (indices into the store) will not change again this step
    /// and starts every bucket that is now complete.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func markFinal(parameters: Range<Int>) throws {
        for index in parameters { isFinal[index] = true }
        for (index, bucket) in buckets.enumerated() where !isStarted[index] && !bucket.isDeferred
            && bucket.parameters.allSatisfy({ isFinal[$0] }) {
            try start(index)
        }
    }

    /// Starts every bucket not started yet (the deferred ones after their sum over the embedding group),
    /// waits for all reductions, and (ZeRO 1) moves each reduced slice into the store's gradients.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func finish() throws {
        try markFinal(parameters: 0..<store.parameters.count)
        for (index, bucket) in buckets.enumerated() where !isStarted[index] {
            if let embedding, embedding.size > 1, synchronization.contains(.embedding) {
                try embedding.allReduce(store.gradients.mutableElements[bucket.range.lowerBound..<bucket.range.upperBound].rebased,
                                        operation: .sum)
            }
            try start(index)
        }
        let begin = clock.now
        for (index, request) in pending {
            try request.wait()
            guard zeroStage == 1 else { continue }
            let shard = buckets[index].shard(rank: rank(of: buckets[index]), of: ranks(of: buckets[index]))
            (store.gradients.pointer + shard.lowerBound).update(from: slices[index].pointer, count: shard.count)
        }
        pending.removeAll()
        let waited = clock.now - begin
        exposedSeconds = waited.seconds
    }

    /// ZeRO 1: all-gathers every bucket's updated slices so each rank holds every parameter again.
    /// A no-op for ZeRO 0 or one rank.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func gatherParameters() throws {
        guard zeroStage == 1 else { return }
        let values = store.values.pointer
        for bucket in buckets {
            guard let members = group(of: bucket), members.size > 1 else { continue }
            let ranks = members.size, rank = members.rank
            let size = bucket.shardSize(ranks: ranks), shard = bucket.shard(rank: rank, of: ranks)
            scratch.reserve(size * (ranks + 1))
            let input = scratch.pointer + size * ranks
            input.update(from: values + shard.lowerBound, count: shard.count)
            (input + shard.count).update(repeating: 0, count: size - shard.count)
            try members.allGather(UnsafeBufferPointer(start: input, count: size),
                                  into: UnsafeMutableBufferPointer(start: scratch.pointer, count: size * ranks))
            (values + bucket.range.lowerBound).update(from: scratch.pointer, count: bucket.count)
        }
    }

    /// Sums the bucket's partial tp gradients, then starts its data-parallel reduction.
    private func start(_ index: Int) throws {
        isStarted[index] = true
        let bucket = buckets[index]
        if synchronization.contains(.tensorParallelPartial) {
            try TensorParallelGradients.sumPartial(store.parameters[bucket.parameters], over: context, scratch: scratch)
        }
        guard let members = group(of: bucket), members.size > 1, synchronization.contains(.dataParallel) else { return }
        let gradients = UnsafeMutableBufferPointer(start: store.gradients.pointer + bucket.range.lowerBound, count: bucket.count)
        let request: any CollectiveRequest
        if zeroStage == 1 {
            var input = UnsafeBufferPointer(gradients)
            if let padded = staging[index] {
                padded.pointer.update(from: gradients.baseAddress!, count: bucket.count)
                input = padded.elements
            }
            request = try members.startReduceScatter(input, into: slices[index].mutableElements, operation: .sum)
        } else {
            request = try members.startAllReduce(gradients, operation: .sum)
        }
        pending.append((index, request))
    }

    /// Bytes of buffers the reducer holds beyond the store (ZeRO-1 slices and padded copies).
    public var bufferBytes: Int { slices.reduce(0) { $0 + $1.byteCount } + staging.values.reduce(0) { $0 + $1.byteCount } }
}

extension Slice where Base == UnsafeMutableBufferPointer<Float> {
    /// The slice as a buffer of its own.
    var rebased: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(rebasing: self) }
}
