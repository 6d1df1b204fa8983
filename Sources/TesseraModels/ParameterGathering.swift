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
        let spec = parameter.spec, local = UnsafeBufferPointer(buffer(parameter))
        guard !spec.sharding.isReplicated else { return try Tensor(shape: spec.globalShape, scalars: Array(local)) }
        let pieces = (0..<spec.sharding.parts).map { spec.sharding.piece($0) }
        let counts = pieces.map { $0.localShape(ofGlobal: spec.globalShape).reduce(1, *) }
        let shards = try context.tp.allGather(local, counts: counts)
        var full = [Float](repeating: 0, count: spec.globalShape.reduce(1, *))
        var first = 0
        for (piece, count) in zip(pieces, counts) {
            piece.forEachRun(globalShape: spec.globalShape) { localOffset, globalOffset, run in
                for i in 0..<run { full[globalOffset + i] = shards[first + localOffset + i] }
            }
            first += count
        }
        return try Tensor(shape: spec.globalShape, scalars: full)
    }
}
