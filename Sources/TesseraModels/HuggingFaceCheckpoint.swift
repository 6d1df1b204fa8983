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

    /// Reads `spec`'s local slice: one ranged read per block of the split dimension.
    static func readSlice(of spec: ParameterSpec, named name: String, from source: any TensorSource,
                          into local: UnsafeMutableBufferPointer<Float>) throws {
        guard let d = spec.sharding.dimension else {
            let tensor = try source.tensor(named: name)
            tensor.withUnsafeBufferPointer { _ = local.update(fromContentsOf: $0) }
            return
        }
        let shape = spec.globalShape, ranges = spec.sharding.ranges(ofGlobal: shape)
        let outer = shape[..<d].reduce(1, *), inner = shape[(d + 1)...].reduce(1, *)
        let localExtent = ranges.reduce(0) { $0 + $1.count }
        var first = 0
        for range in ranges {
            let slice = try source.tensor(named: name, range: range, alongDimension: d)
            slice.withUnsafeBufferPointer { values in
                for o in 0..<outer {
                    let destination = local.baseAddress! + (o * localExtent + first) * inner
                    destination.update(from: values.baseAddress! + o * range.count * inner, count: range.count * inner)
                }
            }
            first += range.count
        }
    }
}

extension MeshEngine {
    /// Builds this rank's part of the model from a Hugging Face directory (`config.json` + safetensors), each
    /// rank reading only its slices. The checkpoint's architecture wins.
    /// - Parameters:
    ///   - parallel: the layout (default: the mesh of `groups`; one device without groups); `groups` must be built over its mesh.
    ///   - backend: the rank's compute backend (see ``init(config:parallel:groups:seed:optimizer:mappings:synchronization:backend:)``).
    /// - Throws: ``ModelError`` for a config that contradicts the weights; ``ParallelConfigError`` when the model does
    ///   not split over the layout; ``FormatError`` for damaged files.
    public convenience init(checkpoint directory: String, parallel: ParallelConfig? = nil, groups: ProcessGroups? = nil,
                            optimizer: AdamWConfiguration = AdamWConfiguration(), backend: any ComputeBackend = CPUBackend.serial) throws {
        let config = try TransformerConfig(contentsOf: directory)
        let source = try SafeTensorsCheckpoint(path: directory)
        try self.init(config: config, parallel: parallel ?? ParallelConfig(mesh: groups?.mesh), groups: groups, seed: nil, optimizer: optimizer, backend: backend)
        try model.load(from: source)
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
