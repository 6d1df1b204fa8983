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

    /// The full Hugging Face tensors this rank writes: its stage's parameters gathered over tp, shared out among
    /// the stage's ranks by size (largest first, each to the least-loaded rank), a tied embedding's
    /// last-stage copy left out. Every rank of the tensor group must call it (an all-gather per sharded tensor);
    /// each keeps only its own tensors.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func weightsToSave() throws -> [(name: String, tensor: Tensor)] {
        let parameters = model.store.parameters.filter { !(parallel.pp > 1 && stage != 0 && $0.name == config.tokenEmbeddingName) }
        let (me, count) = stageReplica
        var load = [Int](repeating: 0, count: count)
        var owner: [String: Int] = [:]
        let elements = { (p: Parameter) in p.spec.globalShape.reduce(1, *) }
        for parameter in parameters.sorted(by: { (elements($0), $1.name) > (elements($1), $0.name) }) {
            let writer = load.indices.min { (load[$0], $0) < (load[$1], $1) }!
            owner[parameter.name] = writer
            load[writer] += elements(parameter)
        }
        var mine: [(name: String, tensor: Tensor)] = []
        for parameter in parameters where owner[parameter.name] == me || !parameter.spec.sharding.isReplicated {
            let full = try model.fullTensor(of: parameter) { $0.value }  // a collective for a sharded tensor
            if owner[parameter.name] == me { mine.append((parameter.name, full)) }
        }
        return mine
    }

    /// The AdamW moments this rank writes: its owned ranges (every rank of dp × cp under ZeRO 1, each holding
    /// a disjoint slice; the first otherwise), split at parameter boundaries; tp-replicated parameters from tp
    /// rank 0 only, a tied embedding from the first stage only.
    public var momentsToSave: [MomentPiece] {
        // Without ZeRO every rank of dp × cp holds the same moments; with it, the reducer shards them over dp × cp.
        let c = groups?.coordinate ?? MeshCoordinate()
        if parallel.memory.zeroStage == 0 && (c.dp != 0 || c.cp != 0) { return [] }
        var pieces: [MomentPiece] = []
        for adam in optimizer.optimizers {
            for parameter in model.store.parameters where writesCopy(of: parameter.spec) {
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

    /// Fills this rank's AdamW moments from full tensors and sets the step counts (the engine's and every
    /// AdamW's bias-correction `t`) to `step`: each owned element takes its global element; padding takes 0.
    /// - Parameter moments: the full moment of a parameter (`spec.globalShape` elements, row-major); called at
    ///   most once per parameter and moment on each optimizer range that holds it.
    public func restoreOptimizer(step: Int, moments: (ParameterSpec, OptimizerMoment) throws -> [Float]) throws {
        for adam in optimizer.optimizers {
            for parameter in model.store.parameters {
                let flat = (parameter.offset..<parameter.offset + parameter.count).clamped(to: adam.range)
                guard !flat.isEmpty else { continue }
                let local = flat.lowerBound - parameter.offset..<flat.upperBound - parameter.offset
                for moment in OptimizerMoment.allCases {
                    let global = try moments(parameter.spec, moment)
                    let buffer = (moment == .first ? adam.firstMoments : adam.secondMoments).pointer
                        + (parameter.offset - adam.range.lowerBound)
                    parameter.spec.sharding.forEachRun(globalShape: parameter.spec.globalShape, within: local) { at, source, count in
                        if let source {
                            global.withUnsafeBufferPointer { (buffer + at).update(from: $0.baseAddress! + source, count: count) }
                        } else {
                            (buffer + at).update(repeating: 0, count: count)
                        }
                    }
                }
            }
            adam.restore(stepCount: step)
        }
        self.step = step
    }
}

extension Sharding {
    /// ``forEachRun(globalShape:_:)`` restricted to the local elements `localRange`: runs are cut at its ends.
    public func forEachRun(globalShape shape: [Int], within localRange: Range<Int>,
                           _ body: (_ localOffset: Int, _ globalOffset: Int?, _ count: Int) throws -> Void) rethrows {
        try forEachRun(globalShape: shape) { localOffset, globalOffset, count in
            let cut = (localOffset..<localOffset + count).clamped(to: localRange)
            guard !cut.isEmpty else { return }
            try body(cut.lowerBound, globalOffset.map { $0 + cut.lowerBound - localOffset }, cut.count)
        }
    }
}
