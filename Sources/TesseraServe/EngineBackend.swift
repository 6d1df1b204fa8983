import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTrain

/// ``DecodeBackend`` over today's engine: one set of key/value caches per sequence, each work entry decoded on its
/// own through ``MeshEngine/decode(_:caches:)``. Every call into the engine lives in this file, so that a
/// change of engine (a batched decode, paged key/value blocks) touches nothing else of the server.
public final class EngineBackend: DecodeBackend {
    private let engine: MeshEngine
    private var caches: [Int: [KeyValueCache]] = [:]

    /// This rank's part of the model at `location`, split as `parallel` says over `groups`.
    public init(location: ModelLocation, parallel: ParallelConfig, groups: ProcessGroups?, computeThreads: Int) throws {
        engine = try location.makeEngine(parallel: parallel, groups: groups, computeThreads: computeThreads)
    }

    public var vocabularySize: Int { engine.config.vocabularySize }
    public var contextLength: Int { engine.config.contextLength }

    public func run(_ plan: StepPlan) throws -> [[Float]] {
        for sequence in plan.released { caches[sequence] = nil }
        for admission in plan.admitted {
            caches[admission.sequence] = engine.makeCaches(capacity: admission.capacity)
        }
        return try plan.work.map { work in
            guard let sequenceCaches = caches[work.sequence] else {
                throw ServeError.internalFailure("sequence \(work.sequence) runs without being admitted")
            }
            return try engine.decode(work.tokens, caches: sequenceCaches)
        }
    }
}
