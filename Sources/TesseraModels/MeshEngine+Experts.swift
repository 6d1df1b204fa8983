import TesseraNN
import TesseraParallel
import TesseraTensor

extension MeshEngine {
    /// This stage's full tensors with every routed expert: with expert parallelism each rank holds `experts / ep`
    /// of each layer's experts, so the expert tensors are gathered over the expert-parallel group (every rank holds
    /// as many, of the same shapes) and the list is returned in single-device order. The identity with ep = 1.
    /// Every rank of the expert group must call it.
    /// - Throws: ``CollectiveError`` when a peer fails.
    func gatheringExperts(_ local: [(name: String, tensor: Tensor)]) throws -> [(name: String, tensor: Tensor)] {
        let ep = model.context.ep
        guard ep.size > 1, let moe = config.moe else { return local }
        let expertNames = Set(model.store.parameters.filter(\.spec.isExpert).map(\.name))
        let mine = local.filter { expertNames.contains($0.name) }
        var flat: [Float] = []
        for (_, tensor) in mine { flat += tensor.scalars }
        let all = try flat.withUnsafeBufferPointer { try ep.allGather($0) }
        // Rank r's block holds, layer by layer, its experts r·n ..< (r+1)·n, each gate, up and down.
        let perRank = moe.router.experts / ep.size
        var gathered = Dictionary(uniqueKeysWithValues: local.map { ($0.name, $0.tensor) })
        for rank in 0..<ep.size {
            var offset = rank * flat.count
            for (name, tensor) in mine {
                guard case let .expert(layer, expert, projection)? = config.family.huggingFace.role(of: name) else { continue }
                let global = config.name(of: .expert(layer: layer, expert: rank * perRank + expert % perRank, projection))
                gathered[global] = try Tensor(shape: tensor.shape, scalars: Array(all[offset..<offset + tensor.count]))
                offset += tensor.count
            }
        }
        let ranges = (0..<parallel.pipeline.virtualStages).map { partition.layers(rank: stage, chunk: $0) }
        return Transformer.parameterSpecs(config: config, context: .single, chunkLayers: ranges).map { ($0.name, gathered[$0.name]!) }
    }
}
