import TesseraTensor

/// What a checkpoint says about one stored tensor, before any of its data is read.
public struct TensorInfo: Sendable, Equatable {
    /// The name as stored (Hugging Face names in safetensors, llama.cpp names in GGUF).
    public let name: String
    /// Row-major dimensions, outermost first (GGUF's `ne` order is reversed into this).
    public let shape: [Int]
    /// The element type as the file names it: "F32", "BF16", "I64" (safetensors), "Q4_1", "Q4_K" (GGUF).
    public let storageType: String
    /// The element type when it is one TesseraTensor stores (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q4_k, q6_k); `nil` otherwise.
    public let dtype: DType?
    /// The file holding the data and the data's byte range in it.
    public let path: String
    public let byteRange: Range<Int>

    /// Number of elements (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// The same stored data described under another name and shape, for sources that present a file's tensors
    /// differently (GGUF tensors under their Hugging Face names, a transposed weight).
    public func presented(as name: String, shape: [Int]) -> TensorInfo {
        TensorInfo(name: name, shape: shape, storageType: storageType, dtype: dtype, path: path, byteRange: byteRange)
    }
}

/// A checkpoint whose tensors can be listed and read by name: ``SafeTensorsFile``, ``SafeTensorsCheckpoint``
/// (sharded Hugging Face directories) and ``GGUFFile`` all conform, so model loading is written once.
///
/// Reads return Float32 ``Tensor``s with row-major shapes. A ranged read (``tensor(named:range:alongDimension:)``)
/// touches only the bytes of that range in the memory-mapped file: under tensor parallelism each rank reads
/// only its own slice. Whether a missing tensor is an error (or is tied to another) is the model's decision;
/// ``contains(_:)`` and ``info(named:)`` answer what exists.
public protocol TensorSource: Sendable {
    /// The file or directory the tensors come from (named in every error).
    var path: String { get }

    /// Every tensor name, in the order the data is stored.
    var tensorNames: [String] { get }

    /// The stored tensor's description, or `nil` when there is no tensor of that name.
    func info(named name: String) -> TensorInfo?

    /// Elements `range` of dimension `dimension`, all of every other dimension, as Float32.
    ///
    /// - Returns: shape `info.shape` with `shape[dimension] = range.count`.
    /// - Throws: ``FormatError/missingTensor(path:tensor:)``; ``FormatError/invalidSlice(path:tensor:reason:)``
    ///   when the dimension or range lies outside the shape or, for block-quantized storage, does not fall on
    ///   whole blocks; ``FormatError/unsupported(path:tensor:reason:)`` for element types Tessera does not decode.
    func tensor(named name: String, range: Range<Int>, alongDimension dimension: Int) throws -> Tensor

    /// The raw stored bytes in their own ``DType`` (a copy), for callers that keep weights quantized.
    /// - Throws: ``FormatError/unsupported(path:tensor:reason:)`` when the storage is not a ``DType``.
    func storedTensor(named name: String) throws -> QuantizedTensor
}

extension TensorSource {
    /// Whether a tensor of that name exists.
    public func contains(_ name: String) -> Bool { info(named: name) != nil }

    /// The tensor's description.
    /// - Throws: ``FormatError/missingTensor(path:tensor:)``.
    public func requireInfo(named name: String) throws -> TensorInfo {
        guard let info = info(named: name) else { throw FormatError.missingTensor(path: path, tensor: name) }
        return info
    }

    /// The whole tensor as Float32, row-major shape `info(named:).shape`.
    public func tensor(named name: String) throws -> Tensor {
        let info = try requireInfo(named: name)
        return try tensor(named: name, range: 0..<(info.shape.first ?? 1), alongDimension: 0)
    }

    /// Rows `rows` (elements of dimension 0) as Float32; shape `[rows.count] + shape.dropFirst()`.
    public func tensor(named name: String, rows: Range<Int>) throws -> Tensor {
        try tensor(named: name, range: rows, alongDimension: 0)
    }
}
