import Dispatch
import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraTensor

/// One of the two AdamW moments, named as `torch.optim.AdamW`'s state names them.
public enum OptimizerMoment: String, Sendable, Hashable, Codable, CaseIterable {
    case first = "exp_avg"
    case second = "exp_avg_sq"
}

/// A contiguous run of one parameter's local elements whose AdamW moments this rank holds and saves.
public struct MomentPiece: @unchecked Sendable {
    /// The parameter: its name, global shape and this rank's sharding of it.
    public let spec: ParameterSpec
    /// The local elements covered (indices into the row-major local shard, `spec.localShape`).
    public let localRange: Range<Int>
    /// `exp_avg` for `localRange`, read in place from the optimizer (valid while the engine lives).
    public let first: UnsafeBufferPointer<Float>
    /// `exp_avg_sq` for `localRange`.
    public let second: UnsafeBufferPointer<Float>

    public init(spec: ParameterSpec, localRange: Range<Int>, first: UnsafeBufferPointer<Float>, second: UnsafeBufferPointer<Float>) {
        precondition(first.count == localRange.count && second.count == localRange.count, "\(spec.name): moments of another length")
        self.spec = spec
        self.localRange = localRange
        self.first = first
        self.second = second
    }

    public func values(_ moment: OptimizerMoment) -> UnsafeBufferPointer<Float> { moment == .first ? first : second }
}

/// One full Hugging Face tensor a rank writes into a checkpoint.
public struct SavedTensor: @unchecked Sendable {
    public let name: String
    /// The global shape.
    public let shape: [Int]
    /// The elements, row-major: in the parameter (valid until the next step) or in the image they were gathered into.
    public let values: UnsafeBufferPointer<Float>
}

/// What a distributed checkpoint needs from a rank's engine: the tensors this rank writes (each element of the
/// model is written by exactly one rank) and the restore of values and AdamW state on any layout.
extension MeshEngine {
    /// This rank's index among the ranks of its stage (tp fastest, then cp, then dp), and how many there are.
    private var stageReplica: (index: Int, count: Int) {
        let c = groups?.coordinate ?? MeshCoordinate()
        return (((c.dp * parallel.cp) + c.cp) * parallel.tp + c.tp, parallel.dp * parallel.cp * parallel.tp)
    }

    /// Whether this rank's copy of `spec` is the one written: a tp-replicated parameter by tp rank 0, the last
    /// stage's copy of a tied embedding never (the first stage's is the same).
    private func writesCopy(of spec: ParameterSpec) -> Bool {
        if spec.sharding.isReplicated && (groups?.coordinate.tp ?? 0) != 0 { return false }
        return !(parallel.pp > 1 && stage != 0 && spec.name == config.tokenEmbeddingName)
    }

    /// The parameters whose full tensor this rank writes (`writes`), and the sharded ones whose gather it only
    /// joins, in store order. The stage's parameters are dealt out among the stage's ranks by size (largest first,
    /// each to the least-loaded rank that holds it): a routed expert among the ranks holding its expert-parallel
    /// share, then a dense parameter among all of them. A tied embedding's last-stage copy is left out.
    private var weightShare: [(parameter: Parameter, writes: Bool)] {
        let parameters = model.store.parameters.filter { !(parallel.pp > 1 && stage != 0 && $0.name == config.tokenEmbeddingName) }
        let (me, count) = stageReplica
        var load = [Int](repeating: 0, count: count)
        var written: Set<String> = []
        let elements = { (p: Parameter) in p.spec.globalShape.reduce(1, *) }
        func deal(_ parameter: Parameter, among ranks: [Int]) {
            let writer = ranks.min { (load[$0], $0) < (load[$1], $1) }!
            load[writer] += elements(parameter)
            if writer == me { written.insert(parameter.name) }
        }
        // Every expert-parallel share holds experts of the same shapes at the same store positions, so dealing
        // them by position gives every rank the same loads whichever experts it holds. Stage replica r holds
        // share (r / tp) % ep (DeviceMesh.expertRank: tp fastest, then cp, then dp).
        let byPosition = parameters.indices.filter { parameters[$0].spec.isExpert }
            .sorted { (elements(parameters[$0]), $1) > (elements(parameters[$1]), $0) }
        for share in 0..<parallel.ep {
            let holders = (0..<count).filter { ($0 / parallel.tp) % parallel.ep == share }
            for index in byPosition { deal(parameters[index], among: holders) }
        }
        let dense = parameters.filter { !$0.spec.isExpert }
        for parameter in dense.sorted(by: { (elements($0), $1.name) > (elements($1), $0.name) }) {
            deal(parameter, among: Array(0..<count))
        }
        return parameters.compactMap { parameter -> (parameter: Parameter, writes: Bool)? in
            if written.contains(parameter.name) { return (parameter, true) }
            return parameter.spec.sharding.isReplicated ? nil : (parameter, false)
        }
    }

    /// Elements ``weightsToSave(into:scratch:inPlace:over:)`` copies into its image.
    public func weightImageCount(inPlace: Bool) -> Int {
        weightShare.reduce(0) { total, share in
            let copied = share.writes && !(inPlace && share.parameter.spec.sharding.isReplicated)
            return total + (copied ? share.parameter.spec.globalShape.reduce(1, *) : 0)
        }
    }

    /// The full Hugging Face tensors this rank writes (see `weightShare`), in store order. A sharded tensor is
    /// gathered over tp (through `scratch`) into `image`, one tensor after another; a replicated one is read in
    /// place when `inPlace` (valid until the next step) and copied into `image` otherwise. Every rank of the
    /// tensor group must call it (an all-gather per sharded tensor); each keeps only its own tensors.
    /// - Parameters:
    ///   - image: room for ``weightImageCount(inPlace:)`` elements.
    ///   - tp: the tensor group to gather over (default: the layers'; another thread than the training thread
    ///     gathers over a group of its own).
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func weightsToSave(into image: UnsafeMutablePointer<Float>, scratch: FloatBuffer, inPlace: Bool,
                              over tp: AxisGroup? = nil) throws -> [SavedTensor] {
        var saved: [SavedTensor] = []
        var next = image
        for (parameter, writes) in weightShare {
            let spec = parameter.spec, count = spec.globalShape.reduce(1, *)
            if writes && inPlace && spec.sharding.isReplicated {
                saved.append(SavedTensor(name: parameter.name, shape: spec.globalShape, values: UnsafeBufferPointer(parameter.value)))
                continue
            }
            try model.gatherFull(UnsafeBufferPointer(parameter.value), of: spec, into: writes ? next : nil, scratch: scratch, over: tp)
            guard writes else { continue }
            saved.append(SavedTensor(name: parameter.name, shape: spec.globalShape, values: UnsafeBufferPointer(start: next, count: count)))
            next += count
        }
        return saved
    }

    /// The AdamW moments this rank writes: its owned ranges, split at parameter boundaries. Without ZeRO every
    /// rank of dp × cp holds the same moments of the dense parameters, and every rank of the expert-data-parallel
    /// group those of its experts: the first rank of each group writes them. With ZeRO 1 the reducer shards them
    /// over those groups and every rank writes its slices. tp-replicated parameters come from tp rank 0 only, a
    /// tied embedding from the first stage only.
    public var momentsToSave: [MomentPiece] {
        let sharded = parallel.memory.zeroStage > 0
        let writesDense = sharded || model.context.dataContext.rank == 0, writesExperts = sharded || model.context.expertData.rank == 0
        var pieces: [MomentPiece] = []
        for adam in optimizer.optimizers {
            for parameter in model.store.parameters where writesCopy(of: parameter.spec) && (parameter.spec.isExpert ? writesExperts : writesDense) {
                let flat = (parameter.offset..<parameter.offset + parameter.count).clamped(to: adam.range)
                guard !flat.isEmpty else { continue }
                let start = flat.lowerBound - adam.range.lowerBound
                pieces.append(MomentPiece(
                    spec: parameter.spec, localRange: flat.lowerBound - parameter.offset..<flat.upperBound - parameter.offset,
                    first: UnsafeBufferPointer(start: adam.firstMoments.pointer + start, count: flat.count),
                    second: UnsafeBufferPointer(start: adam.secondMoments.pointer + start, count: flat.count)))
            }
        }
        return pieces
    }

    /// Fills this rank's parameter values and AdamW moments from a checkpoint and sets the step counts (the
    /// engine's and every AdamW's bias-correction `t`) to `step`.
    /// - Parameter fill: writes the local elements `localRange` of `spec`'s tensor `state` (``weightState`` or
    ///   an ``OptimizerMoment`` raw value) from `destination` on (its element `localRange.lowerBound`); called
    ///   once per parameter for its value and once per parameter, moment and optimizer range that holds it for
    ///   the moments.
    public func restoreState(step: Int, fill: (_ spec: ParameterSpec, _ state: String, _ localRange: Range<Int>,
                                               _ destination: UnsafeMutablePointer<Float>) throws -> Void) throws {
        for parameter in model.store.parameters {
            try fill(parameter.spec, Self.weightState, 0..<parameter.count, parameter.value.baseAddress!)
        }
        for adam in optimizer.optimizers {
            for parameter in model.store.parameters {
                let flat = (parameter.offset..<parameter.offset + parameter.count).clamped(to: adam.range)
                guard !flat.isEmpty else { continue }
                let local = flat.lowerBound - parameter.offset..<flat.upperBound - parameter.offset
                for moment in OptimizerMoment.allCases {
                    let buffer = moment == .first ? adam.firstMoments : adam.secondMoments
                    try fill(parameter.spec, moment.rawValue, local, buffer.pointer + (flat.lowerBound - adam.range.lowerBound))
                }
            }
            adam.restore(stepCount: step)
        }
        self.step = step
    }

    /// The state name of a parameter's value in checkpoints (beside the ``OptimizerMoment`` names).
    public static let weightState = "weight"

    /// Waits until ``pendingStateRead`` (if any) is released, counting the wait in ``stateReadWaitSeconds``.
    func waitForPendingStateRead() {
        guard let fence = pendingStateRead else { return }
        let start = ContinuousClock.now
        fence.wait()
        stateReadWaitSeconds += (ContinuousClock.now - start) / .seconds(1)
        pendingStateRead = nil
    }
}

/// Marks the end of reads of a rank's parameter values and AdamW moments made beside its training thread: the
/// reader calls ``release()`` once (after its last read, or when it gives up), and ``MeshEngine`` waits for that
/// before its next optimizer update changes them. The semaphore orders every read before that update.
public final class StateReadFence: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)

    public init() {}

    /// Called once by the reader when it no longer reads.
    public func release() { semaphore.signal() }

    /// Returns once ``release()`` has been called (at once after that, for any number of waiters).
    public func wait() {
        semaphore.wait()
        semaphore.signal()
    }
}

extension Sharding {
    /// ``forEachRun(globalShape:_:)`` restricted to the local elements `localRange`: runs are cut at its ends.
    public func forEachRun(globalShape shape: [Int], within localRange: Range<Int>,
                           _ body: (_ localOffset: Int, _ globalOffset: Int, _ count: Int) throws -> Void) rethrows {
        try forEachRun(globalShape: shape) { localOffset, globalOffset, count in
            let cut = (localOffset..<localOffset + count).clamped(to: localRange)
            guard !cut.isEmpty else { return }
            try body(cut.lowerBound, globalOffset + cut.lowerBound - localOffset, cut.count)
        }
    }
}
