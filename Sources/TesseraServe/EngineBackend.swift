import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTensor
import TesseraTrain

/// ``DecodeBackend`` over the engine: one ``KVBlockPool`` per rank, a block table per admitted sequence (its whole
/// capacity reserved at admission), and every step's work decoded in one batched call through
/// ``MeshEngine/decode(_:pool:)``. Every call into the engine lives in this file.
public final class EngineBackend: DecodeBackend {
    private let engine: MeshEngine
    private let pool: KVBlockPool
    private var tables: [Int: KVBlockTable] = [:]

    /// This rank's part of the model at `location`, split as `parallel` says over `groups`, with a pool of
    /// `kvBlocks` blocks (default: ``defaultBlocks(context:maxBatch:)``) storing rows as `cacheType`.
    /// - Parameter context: the longest sequence served (the model's context or a shorter limit).
    /// - Throws: model loading errors; ``KVCacheError/poolTooSmall(blocks:blockSize:longestSequence:)``.
    public init(location: ModelLocation, parallel: ParallelConfig, groups: ProcessGroups?, computeThreads: Int,
                kvBlocks: Int?, cacheType: DType = .f32, maxBatch: Int, context: Int?) throws {
        engine = try location.makeEngine(parallel: parallel, groups: groups, computeThreads: computeThreads)
        let longest = min(context ?? engine.config.contextLength, engine.config.contextLength)
        pool = try engine.makeBlockPool(blocks: kvBlocks ?? Self.defaultBlocks(context: longest, maxBatch: maxBatch), longestSequence: longest,
                                      cacheType: cacheType)
    }

    /// Blocks for one sequence of the whole context or `maxBatch` sequences of 512 tokens, whichever is more.
    public static func defaultBlocks(context: Int, maxBatch: Int) -> Int {
        let size = MeshEngine.defaultBlockSize
        return max((context + size - 1) / size, maxBatch * ((min(context, 512) + size - 1) / size))
    }

    public var vocabularySize: Int { engine.config.vocabularySize }
    public var contextLength: Int { engine.config.contextLength }
    public var blockUsage: KVBlockUsage { KVBlockUsage(blockSize: pool.blockSize, total: pool.blockCount, free: pool.freeBlocks) }
    /// Bytes of this rank's key/value pool.
    public var poolBytes: Int { pool.byteCount }

    public func run(_ plan: StepPlan) throws -> [[Float]] {
        for sequence in plan.released {
            if let table = tables.removeValue(forKey: sequence) { pool.release(table) }
        }
        for admission in plan.admitted {
            let table = KVBlockTable()
            try pool.reserve(table, tokens: admission.capacity)
            tables[admission.sequence] = table
        }
        let segments = try plan.work.map { work in
            guard let table = tables[work.sequence] else {
                throw ServeError.internalFailure("sequence \(work.sequence) runs without being admitted")
            }
            return DecodeSegment(sequence: table, tokens: work.tokens, logitsOfEveryRow: work.logitsOfEveryRow)
        }
        return segments.isEmpty ? [] : try engine.decode(segments, pool: pool)
    }
}
