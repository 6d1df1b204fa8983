import TesseraNN
import TesseraParallel
import TesseraTensor

extension Transformer {
    /// Every parameter of this rank's chunks as the full Hugging Face tensor (global shape, padding
    /// dropped), gathered over tp, in store order. Every rank of the tensor group must call it.
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
        guard let dimension = spec.sharding.dimension else { return try Tensor(shape: spec.globalShape, scalars: Array(local)) }
        let shards = try context.tp.allGather(local)
        var full = [Float](repeating: 0, count: spec.globalShape.reduce(1, *))
        for rank in 0..<spec.sharding.parts {
            let sharding = Sharding.split(dimension: dimension, parts: spec.sharding.parts, index: rank,
                                          blocks: spec.sharding.blocks, paddedExtent: spec.sharding.paddedExtent)
            sharding.forEachRun(globalShape: spec.globalShape) { localOffset, globalOffset, count in
                guard let globalOffset else { return }
                for i in 0..<count { full[globalOffset + i] = shards[rank * local.count + localOffset + i] }
            }
        }
        return try Tensor(shape: spec.globalShape, scalars: full)
    }
}
