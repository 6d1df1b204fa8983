import TesseraNN
import TesseraParallel
import TesseraTensor

extension Transformer {
    /// Every parameter of this rank's chunks as the full Hugging Face tensor (global shape), gathered over
    /// tp, in store order. Every rank of the tensor group must call it.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public func fullParameters() throws -> [(name: String, tensor: Tensor)] {
        try store.parameters.map { ($0.name, try fullTensor(of: $0) { $0.value }) }
    }

    /// Every gradient as a full tensor (as ``fullParameters()`` does for values).
    public func fullGradients() throws -> [(name: String, tensor: Tensor)] {
        try store.parameters.map { ($0.name, try fullTensor(of: $0) { $0.gradient }) }
    }

    /// Assembles the full tensor of `parameter` from every tp rank's shard of `buffer(parameter)`.
    func fullTensor(of parameter: Parameter, _ buffer: (Parameter) -> UnsafeMutableBufferPointer<Float>) throws -> Tensor {
        var full = [Float](repeating: 0, count: parameter.spec.globalShape.reduce(1, *))
        try full.withUnsafeMutableBufferPointer {
            try gatherFull(UnsafeBufferPointer(buffer(parameter)), of: parameter.spec, into: $0.baseAddress!, scratch: FloatBuffer(count: 0))
        }
        return try Tensor(shape: parameter.spec.globalShape, scalars: full)
    }

    /// Writes the full tensor (global shape, row-major) whose shard on this rank is `local` into `destination`, or
    /// only contributes the shard when `destination` is `nil`. A sharded tensor is all-gathered over `tp` (default:
    /// the layers' tensor group) into `scratch` (grown as needed; the shards may differ in size by a head, a feature
    /// or a row) and its runs copied into place; every rank of the tensor group must call it for a sharded `spec`.
    /// A replicated tensor is copied (no communication).
    /// - Throws: ``CollectiveError`` when a peer fails.
    func gatherFull(_ local: UnsafeBufferPointer<Float>, of spec: ParameterSpec, into destination: UnsafeMutablePointer<Float>?,
                    scratch: FloatBuffer, over tp: AxisGroup? = nil) throws {
        guard !spec.sharding.isReplicated else {
            destination?.update(from: local.baseAddress!, count: local.count)
            return
        }
        let pieces = (0..<spec.sharding.parts).map { spec.sharding.piece($0) }
        let counts = pieces.map { $0.localShape(ofGlobal: spec.globalShape).reduce(1, *) }
        scratch.reserve(counts.reduce(0, +))
        try (tp ?? context.tp).allGather(local, counts: counts, into: scratch.mutableElements)
        guard let destination else { return }
        var first = 0
        for (piece, count) in zip(pieces, counts) {
            let shard = scratch.pointer + first
            piece.forEachRun(globalShape: spec.globalShape) { localOffset, globalOffset, run in
                (destination + globalOffset).update(from: shard + localOffset, count: run)
            }
            first += count
        }
    }
}
