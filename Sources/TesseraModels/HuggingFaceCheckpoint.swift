import TesseraCollectives
import TesseraFormats
import TesseraNN
import TesseraParallel
import TesseraTensor

/// Loading a rank's slices from, and saving full tensors to, Hugging Face checkpoints.
extension Transformer {
    /// Names a tensor may have in a file: GPT-2 checkpoints exist with and without the `transformer.` prefix.
    static func storedNames(of name: String) -> [String] {
        name.hasPrefix("transformer.") ? [name, String(name.dropFirst("transformer.".count))] : [name]
    }

    /// Replaces every local value with this rank's slice of `source` (a safetensors file or directory, a
    /// ``GGUFParameterSource``, or any ``TensorSource`` with Hugging Face names), reading only that slice's bytes.
    /// - Throws: ``ModelError/missingTensor(file:tensor:)`` or ``ModelError/shapeMismatch(file:tensor:expected:actual:)``
    ///   when the checkpoint contradicts the configuration; ``FormatError`` for damaged files.
    public func load(from source: any TensorSource) throws {
        for parameter in store.parameters {
            let name = try Self.storedName(of: parameter.spec, in: source)
            try Self.readSlice(of: parameter.spec, named: name, from: source, into: parameter.value)
        }
    }

    /// The name under which `source` stores `spec`'s tensor, checked against the global shape.
    static func storedName(of spec: ParameterSpec, in source: any TensorSource) throws -> String {
        guard let name = storedNames(of: spec.name).first(where: source.contains), let info = source.info(named: name) else {
            throw ModelError.missingTensor(file: source.path, tensor: spec.name)
        }
        guard info.shape == spec.globalShape else {
            throw ModelError.shapeMismatch(file: source.path, tensor: name, expected: spec.globalShape, actual: info.shape)
        }
        return name
    }

    /// Reads `spec`'s local slice: one ranged read per block of the split dimension (padding stays zero).
    static func readSlice(of spec: ParameterSpec, named name: String, from source: any TensorSource,
                          into local: UnsafeMutableBufferPointer<Float>) throws {
        guard let d = spec.sharding.dimension else {
            let tensor = try source.tensor(named: name)
            tensor.withUnsafeBufferPointer { _ = local.update(fromContentsOf: $0) }
            return
        }
        local.update(repeating: 0)
        let shape = spec.globalShape, sharding = spec.sharding
        let outer = shape[..<d].reduce(1, *), inner = shape[(d + 1)...].reduce(1, *)
        let padded = sharding.extent(of: shape), blockExtent = padded / sharding.blocks, piece = blockExtent / sharding.parts
        let localExtent = padded / sharding.parts
        for block in 0..<sharding.blocks {
            let start = block * blockExtent + sharding.index * piece
            let valid = max(0, min(piece, shape[d] - start))
            guard valid > 0 else { continue }
            let slice = try source.tensor(named: name, range: start..<start + valid, alongDimension: d)
            slice.withUnsafeBufferPointer { values in
                for o in 0..<outer {
                    let destination = local.baseAddress! + (o * localExtent + block * piece) * inner
                    destination.update(from: values.baseAddress! + o * valid * inner, count: valid * inner)
                }
            }
        }
    }
}

extension TransformerEngine {
    /// Builds this rank's model from a Hugging Face directory (`config.json` + safetensors), each rank
    /// reading only its slices. The checkpoint's architecture wins.
    /// - Throws: ``ModelError`` for a config that contradicts the weights or does not split over tp;
    ///   ``FormatError`` for damaged files.
    /// - Parameter backend: the rank's threads (see ``TransformerEngine/init(config:groups:seed:sequenceParallel:optimizer:mappings:backend:)``).
    public convenience init(checkpoint directory: String, groups: ProcessGroups? = nil, sequenceParallel: Bool = false,
                            optimizer: AdamWConfiguration = AdamWConfiguration(), backend: any ComputeBackend = CPUBackend.serial) throws {
        let config = try TransformerConfig(contentsOf: directory)
        let source = try SafeTensorsCheckpoint(path: directory)
        try self.init(config: config, groups: groups, seed: nil, sequenceParallel: sequenceParallel, optimizer: optimizer,
                      backend: backend)
        try model.load(from: source)
    }

    /// Writes one full Hugging Face checkpoint (`config.json` + `model.safetensors`, F32) into `directory`,
    /// whatever the layout: every rank must call it; shards are gathered over tp and the first rank of the
    /// world writes, atomically. A tied LM head is stored once, as the embedding.
    public func save(toDirectory directory: String) throws {
        try config.writeHuggingFaceCheckpoint(try model.fullParameters(), toDirectory: directory, world: groups?.world)
    }
}

extension TransformerConfig {
    /// Writes `tensors` (full, every rank holding the same) and this configuration as one Hugging Face
    /// directory: the first rank of `world` writes, atomically, while the others wait at a barrier.
    public func writeHuggingFaceCheckpoint(_ tensors: [(name: String, tensor: Tensor)], toDirectory directory: String,
                                           world: (any Communicator)?) throws {
        guard (world?.rank ?? 0) == 0 else {
            try world?.barrier()
            return
        }
        var writer = SafeTensorsWriter()
        for (name, tensor) in tensors { try writer.add(tensor, named: name) }
        try writer.write(toDirectory: directory)
        try writeHuggingFaceConfig(toDirectory: directory)
        try world?.barrier()
    }
}
