import TesseraTensor

/// How a parameter's initial values are drawn.
public enum Initialization: Sendable, Hashable, Codable {
    /// Normal with mean 0 and standard deviation `std`, drawn by ``DeterministicRandom`` at each global index.
    case normal(std: Float)
    /// Every element equal to `value` (norm weights 1, biases 0).
    case constant(Float)
}

/// What must happen to a parameter's gradient across the tensor-parallel group before the optimizer step.
public enum GradientReduction: Sendable, Hashable, Codable {
    /// The local gradient is complete (a shard's own gradient, or a replica that saw every token).
    case none
    /// Each rank holds a partial gradient of a replicated parameter (sequence-parallel norm weights and
    /// row-parallel biases, which see only the local tokens; replicated key/value projections, which see
    /// only the local heads): sum it over the tensor-parallel group.
    case sumOverTensorParallel
}

/// The description of one parameter on one rank: enough to allocate, initialize, load, save and
/// count it, with no storage.
public struct ParameterSpec: Sendable, Hashable {
    /// Hugging Face name, e.g. `transformer.h.0.attn.c_attn.weight` or `model.layers.0.self_attn.q_proj.weight`.
    public var name: String
    /// Shape of the full tensor as stored in a Hugging Face checkpoint (GPT-2's Conv1D weights are `[in, out]`).
    public var globalShape: [Int]
    /// Which part of the global tensor this rank holds.
    public var sharding: Sharding
    public var initialization: Initialization
    /// Whether AdamW applies weight decay (by default: parameters with two or more dimensions).
    public var decays: Bool
    public var gradientReduction: GradientReduction
    /// Whether this rank's copy enters the global gradient norm. Shards always do; a parameter replicated
    /// over the tensor-parallel group counts on one rank only, so every parameter is counted once.
    public var countsInGlobalNorm: Bool
    /// Whether the parameter is an expert weight of a mixture-of-experts layer. Only `1/ep` of the data- and
    /// context-parallel ranks hold it, so its gradient is summed over the expert-data-parallel group instead of
    /// dp × cp, and its Σ g² differs between expert-parallel ranks (the global norm sums it over ep).
    public var isExpert: Bool

    public init(name: String, globalShape: [Int], sharding: Sharding = .replicated, initialization: Initialization,
                decays: Bool? = nil, gradientReduction: GradientReduction = .none, countsInGlobalNorm: Bool = true,
                isExpert: Bool = false) {
        precondition(sharding.fits(globalShape: globalShape), "\(name): \(sharding) does not fit \(globalShape)")
        self.name = name
        self.globalShape = globalShape
        self.sharding = sharding
        self.initialization = initialization
        self.decays = decays ?? (globalShape.count >= 2)
        self.gradientReduction = gradientReduction
        self.countsInGlobalNorm = countsInGlobalNorm
        self.isExpert = isExpert
    }

    /// Shape of the local tensor.
    public var localShape: [Int] { sharding.localShape(ofGlobal: globalShape) }

    /// Elements of the local tensor.
    public var localCount: Int { localShape.reduce(1, *) }

    /// Writes the initial local values: each element depends only on `(seed, name, global index)`, so a
    /// shard equals the matching slice of the single-device tensor bit for bit.
    public func initialize(_ local: UnsafeMutableBufferPointer<Float>, seed: UInt64) {
        precondition(local.count == localCount, "\(name): buffer of \(local.count) for \(localCount) elements")
        switch initialization {
        case let .constant(value):
            local.update(repeating: value)
        case let .normal(std):
            let random = DeterministicRandom(seed: seed, stream: name)
            sharding.forEachRun(globalShape: globalShape) { localOffset, globalOffset, count in
                random.fillNormal(UnsafeMutableBufferPointer(rebasing: local[localOffset..<localOffset + count]),
                                  indices: globalOffset..<globalOffset + count, std: std)
            }
        }
    }
}

/// One parameter on one rank: its spec, its local values and its gradient, both views into the flat
/// storage of a ``ParameterStore`` (so optimizers and gradient reductions can work on one contiguous range).
public final class Parameter: @unchecked Sendable, CustomStringConvertible {
    public let spec: ParameterSpec
    /// Offset of this parameter in the store's flat value and gradient buffers.
    public let offset: Int
    /// The local values (`spec.localShape`, row-major).
    public let value: UnsafeMutableBufferPointer<Float>
    /// The local gradient, accumulated over micro-batches until the store's gradients are zeroed.
    public let gradient: UnsafeMutableBufferPointer<Float>

    init(spec: ParameterSpec, offset: Int, value: UnsafeMutableBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>) {
        self.spec = spec
        self.offset = offset
        self.value = value
        self.gradient = gradient
    }

    public var name: String { spec.name }
    public var count: Int { value.count }

    /// The local values as a tensor of the local shape.
    public var valueTensor: Tensor { try! Tensor(shape: spec.localShape, scalars: Array(value)) }
    /// The local gradient as a tensor of the local shape.
    public var gradientTensor: Tensor { try! Tensor(shape: spec.localShape, scalars: Array(gradient)) }

    /// Replaces the local values.
    /// - Throws: ``TensorError/shapeMismatch(operation:expected:actual:)`` unless `tensor` has the local shape.
    public func assign(_ tensor: Tensor) throws {
        try tensor.checkShape(spec.localShape, "Parameter.assign(\(name))")
        tensor.withUnsafeBufferPointer { _ = value.update(fromContentsOf: $0) }
    }

    public var description: String { "\(name) \(spec.globalShape) \(spec.sharding)" }
}

/// All parameters of one rank in two flat buffers (values and gradients) laid out in spec order.
///
/// Flat storage is what lets a data-parallel reduction be one collective and lets a ZeRO optimizer own a
/// contiguous slice of the values and their moments.
public final class ParameterStore: @unchecked Sendable {
    /// Parameters in the order of the specs given at creation.
    public let parameters: [Parameter]
    /// Every local value, parameter after parameter.
    public let values: FloatBuffer
    /// Every local gradient, in the same layout as ``values``.
    public let gradients: FloatBuffer
    private let byName: [String: Parameter]

    /// Allocates storage for `specs` and initializes every value from `seed` (`nil`: zeros, for values
    /// about to be loaded from a checkpoint). Gradients start at zero.
    public init(specs: [ParameterSpec], seed: UInt64?) {
        let total = specs.reduce(0) { $0 + $1.localCount }
        values = FloatBuffer(count: total)
        gradients = FloatBuffer(count: total)
        var offset = 0
        var list: [Parameter] = []
        for spec in specs {
            let n = spec.localCount
            let parameter = Parameter(
                spec: spec, offset: offset,
                value: UnsafeMutableBufferPointer(start: values.pointer + offset, count: n),
                gradient: UnsafeMutableBufferPointer(start: gradients.pointer + offset, count: n))
            if let seed { spec.initialize(parameter.value, seed: seed) }
            list.append(parameter)
            offset += n
        }
        parameters = list
        byName = Dictionary(list.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        precondition(byName.count == list.count, "duplicate parameter names")
    }

    /// The parameter with Hugging Face name `name`, if this rank holds it.
    public subscript(name: String) -> Parameter? { byName[name] }

    /// Number of local elements over all parameters.
    public var count: Int { values.count }

    /// Bytes of local values (the gradients take as many again).
    public var valueBytes: Int { values.count * MemoryLayout<Float>.stride }

    /// Sets every gradient to zero (at the start of each optimizer step).
    public func zeroGradients() { gradients.zero() }
}
