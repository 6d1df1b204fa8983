import TesseraTensor

/// How the elements of one stored tensor are encoded, whichever file format declared them.
/// Both the safetensors and the GGUF readers map their type names onto this, and one decoder serves both.
enum ElementFormat: Sendable, Equatable {
    /// A format TesseraTensor stores (f32, f16, bf16 and the ggml blocks q8_0, q4_0, q4_1, q5_0, q4_k, q6_k).
    case dtype(DType)
    case float64
    /// Two's-complement (`signed`) or unsigned little-endian integers of `bytes` bytes.
    case integer(bytes: Int, signed: Bool)
    /// One byte per element, 0 or 1.
    case bool
    /// Known size, not decoded by Tessera (float8 formats, k-quants, i-quants, …).
    case opaque(name: String, blockSize: Int, bytesPerBlock: Int)

    var blockSize: Int {
        switch self {
        case let .dtype(d): return d.blockSize
        case let .opaque(_, blockSize, _): return blockSize
        case .float64, .integer, .bool: return 1
        }
    }

    var bytesPerBlock: Int {
        switch self {
        case let .dtype(d): return d.bytesPerBlock
        case .float64: return 8
        case let .integer(bytes, _): return bytes
        case .bool: return 1
        case let .opaque(_, _, bytesPerBlock): return bytesPerBlock
        }
    }

    var dtype: DType? {
        if case let .dtype(d) = self { return d }
        return nil
    }

    /// Bytes for `count` elements, or `nil` when `count` is not whole blocks or the size overflows.
    func byteCount(forElements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return overflow ? nil : bytes
    }

    /// Decodes `count` elements from `raw` (unaligned, e.g. memory-mapped) into `out`.
    /// - Returns: `false` for an ``opaque(name:blockSize:bytesPerBlock:)`` format (nothing is written).
    func decode(_ raw: UnsafeRawBufferPointer, count: Int, into out: UnsafeMutablePointer<Float>) -> Bool {
        guard count > 0 else { return true }
        let base = raw.baseAddress!
        switch self {
        case let .dtype(d):
            Quantization.decode(raw, as: d, count: count, into: out)
        case .float64:
            for i in 0..<count { out[i] = Float(base.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        case .bool:
            for i in 0..<count { out[i] = base.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        case let .integer(bytes, signed):
            for i in 0..<count { out[i] = Float(Self.loadInteger(base + bytes * i, bytes: bytes, signed: signed)) }
        case .opaque:
            return false
        }
        return true
    }

    private static func loadInteger(_ p: UnsafeRawPointer, bytes: Int, signed: Bool) -> Int64 {
        switch (bytes, signed) {
        case (1, true): return Int64(p.load(as: Int8.self))
        case (1, false): return Int64(p.load(as: UInt8.self))
        case (2, true): return Int64(Int16(littleEndian: p.loadUnaligned(as: Int16.self)))
        case (2, false): return Int64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
        case (4, true): return Int64(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
        case (4, false): return Int64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        case (8, false): return Int64(truncatingIfNeeded: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
        default: return Int64(littleEndian: p.loadUnaligned(as: Int64.self))
        }
    }
}

/// One validated tensor in a mapped file: the shared read path for every ``TensorSource``.
struct StoredTensor: Sendable {
    let file: MappedFile
    let info: TensorInfo
    let format: ElementFormat

    /// Elements `range` of `dimension` (see ``TensorSource/tensor(named:range:alongDimension:)``).
    func read(range: Range<Int>, alongDimension dimension: Int) throws -> Tensor {
        let shape = info.shape.isEmpty ? [1] : info.shape
        guard shape.indices.contains(dimension) else {
            throw slice("dimension \(dimension) does not exist in shape \(info.shape)")
        }
        guard range.lowerBound >= 0, range.upperBound <= shape[dimension] else {
            throw slice("range \(range) is outside 0..<\(shape[dimension]) of dimension \(dimension) (shape \(info.shape))")
        }
        guard case .opaque = format else {
            let outer = shape[..<dimension].reduce(1, *)
            let inner = shape[(dimension + 1)...].reduce(1, *)
            let run = range.count * inner
            let blockSize = format.blockSize
            if blockSize > 1, (range.lowerBound * inner) % blockSize != 0 || run % blockSize != 0 {
                throw slice("range \(range) of dimension \(dimension) does not fall on whole \(info.storageType) blocks of \(blockSize) elements")
            }
            var resultShape = info.shape.isEmpty ? [] : info.shape
            if !resultShape.isEmpty { resultShape[dimension] = range.count }
            let total = outer * run
            let scalars = [Float](unsafeUninitializedCapacity: total) { buffer, initialized in
                for o in 0..<outer {
                    let first = (o * shape[dimension] + range.lowerBound) * inner
                    let start = info.byteRange.lowerBound + first / blockSize * format.bytesPerBlock
                    let bytes = file.bytes(in: start..<(start + run / blockSize * format.bytesPerBlock))
                    _ = format.decode(bytes, count: run, into: buffer.baseAddress! + o * run)
                }
                initialized = total
            }
            return try Tensor(shape: resultShape, scalars: scalars)
        }
        throw unsupported()
    }

    /// A copy of the stored bytes in their ``DType``.
    func storage() throws -> QuantizedTensor {
        guard let dtype = format.dtype else { throw unsupported() }
        return try QuantizedTensor(dtype: dtype, shape: info.shape, bytes: Array(file.bytes(in: info.byteRange)))
    }

    /// The stored matrix in place: borrows the mapped bytes (no copy), keeping the file mapped while it lives.
    func matrix() throws -> QuantizedMatrix {
        guard let dtype = format.dtype else {
            throw FormatError.unsupported(
                path: info.path, tensor: info.name,
                reason: "element type \(info.storageType) has no matrix kernel; Tessera multiplies \(DType.storageNames)")
        }
        guard info.shape.count == 2 else {
            throw FormatError.unsupported(
                path: info.path, tensor: info.name, reason: "shape \(info.shape) is not a matrix [rows, columns]")
        }
        return try QuantizedMatrix(
            dtype: dtype, rows: info.shape[0], columns: info.shape[1], borrowing: file.bytes(in: info.byteRange), owner: file)
    }

    private func slice(_ reason: String) -> FormatError {
        .invalidSlice(path: info.path, tensor: info.name, reason: reason)
    }

    private func unsupported() -> FormatError {
        .unsupported(path: info.path, tensor: info.name,
                     reason: "element type \(info.storageType) is not decoded by Tessera; convert the checkpoint to one of \(DType.storageNames)")
    }
}

/// The validated tensors of one file by name, in file order: what ``SafeTensorsFile`` and ``GGUFFile`` serve.
struct TensorTable: Sendable {
    let path: String
    let names: [String]
    private let tensors: [String: StoredTensor]

    /// - Parameter tensors: in file order, with distinct names.
    init(path: String, _ tensors: [StoredTensor]) {
        self.path = path
        names = tensors.map(\.info.name)
        self.tensors = Dictionary(uniqueKeysWithValues: tensors.map { ($0.info.name, $0) })
    }

    func info(_ name: String) -> TensorInfo? { tensors[name]?.info }

    func read(_ name: String, range: Range<Int>, alongDimension dimension: Int) throws -> Tensor {
        try stored(name).read(range: range, alongDimension: dimension)
    }

    func storage(_ name: String) throws -> QuantizedTensor {
        try stored(name).storage()
    }

    func matrix(_ name: String) throws -> QuantizedMatrix {
        try stored(name).matrix()
    }

    /// Releases the mapped pages of tensor `name` (nothing for an unknown name).
    func release(_ name: String) {
        guard let tensor = tensors[name] else { return }
        tensor.file.release(tensor.info.byteRange)
    }

    private func stored(_ name: String) throws -> StoredTensor {
        guard let tensor = tensors[name] else { throw FormatError.missingTensor(path: path, tensor: name) }
        return tensor
    }
}
