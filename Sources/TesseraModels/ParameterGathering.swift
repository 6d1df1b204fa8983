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
        var full = [Float](repeating: 0, count: parameter.spec.globalShape.reduce(1, *))
        try full.withUnsafeMutableBufferPointer {
            try gatherFull(UnsafeBufferPointer(buffer(parameter)), of: parameter.spec, into: $0.baseAddress!, scratch: FloatBuffer(count: 0))
        }
        return try Tensor(shape: parameter.spec.globalShape, scalars: full)
    }

    /// Writes the full tensor (global shape, row-major, padding dropped) whose shard on this rank is `local` into
    /// `destination`, or only contributes the shard when `destination` is `nil`. A sharded tensor is all-gathered
    /// over tp into `scratch` (grown as needed) and its runs copied into place; every rank of the tensor group must
    /// call it for a sharded `spec`. A replicated tensor is copied (no communication).
    /// - Throws: ``CollectiveError`` when a peer fails.
    func gatherFull(_ local: UnsafeBufferPointer<Float>, of spec: ParameterSpec, into destination: UnsafeMutablePointer<Float>?,
                    scratch: FloatBuffer) throws {
        guard let dimension = spec.sharding.dimension else {
            destination?.update(from: local.baseAddress!, count: local.count)
            return
        }
        let parts = spec.sharding.parts
        scratch.reserve(parts * local.count)
        try context.tp.allGather(local, into: scratch.mutableElements)
        guard let destination else { return }
        for rank in 0..<parts {
            let sharding = Sharding.split(dimension: dimension, parts: parts, index: rank,
                                          blocks: spec.sharding.blocks, paddedExtent: spec.sharding.paddedExtent)
            let shard = scratch.pointer + rank * local.count
            sharding.forEachRun(globalShape: spec.globalShape) { localOffset, globalOffset, count in
                guard let globalOffset else { return }
                (destination + globalOffset).update(from: shard + localOffset, count: count)
            }
        }
    }
}
