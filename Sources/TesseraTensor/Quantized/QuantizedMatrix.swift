/// A weight matrix `W` of shape `[rows, columns]` kept in its stored ``DType`` and multiplied in place: the
/// products (``multiply(vector:pool:path:)``, ``multiply(rows:pool:path:)``) read the blocks directly and never
/// build a Float32 copy of `W`.
///
/// Row `r` is `rowBytes` bytes at offset `r · rowBytes`, laid out as ``DType`` defines (ggml's layout, so a GGUF
/// tensor whose innermost dimension is `columns` is such a matrix as it lies in the file). The bytes either belong
/// to the matrix (copied at initialization) or are borrowed from an owner that keeps them alive, such as a
/// memory-mapped checkpoint: then the weights cost no memory beyond the mapping's resident pages.
///
/// The value is immutable, so sharing it between threads is safe.
public struct QuantizedMatrix: Sendable {
    /// The stored element type.
    public let dtype: DType
    /// Output features: the length of `W x`.
    public let rows: Int
    /// Input features: the length of `x`; a multiple of `dtype.blockSize`.
    public let columns: Int
    /// Bytes of one stored row.
    public let rowBytes: Int
    private let storage: Storage
    /// Byte offset of row 0 in `storage` (non-zero for a view made by ``rows(_:)``).
    private let offset: Int

    /// Copies `bytes` (`rows · rowBytes` of them) into storage of its own, aligned to cache lines.
    /// - Throws: ``TensorError/invalidShape(operation:shape:reason:)`` when `columns` is not whole blocks of
    ///   `dtype` or a dimension is negative; ``TensorError/countMismatch(operation:expected:actual:)`` when
    ///   `bytes` has the wrong length.
    public init(dtype: DType, rows: Int, columns: Int, bytes: [UInt8]) throws {
        let rowBytes = try Self.rowBytes(dtype: dtype, rows: rows, columns: columns, byteCount: bytes.count)
        self.init(dtype: dtype, rows: rows, columns: columns, rowBytes: rowBytes, storage: Storage(copying: bytes))
    }

    /// Borrows `bytes` without copying; `owner` is retained for as long as the matrix (or a copy of it) lives
    /// and must keep `bytes` valid and unchanged (a memory-mapped file object, for example).
    /// - Throws: as ``init(dtype:rows:columns:bytes:)``.
    public init(dtype: DType, rows: Int, columns: Int, borrowing bytes: UnsafeRawBufferPointer, owner: some AnyObject & Sendable) throws {
        let rowBytes = try Self.rowBytes(dtype: dtype, rows: rows, columns: columns, byteCount: bytes.count)
        let storage = Storage(base: bytes.baseAddress, owner: owner)
        self.init(dtype: dtype, rows: rows, columns: columns, rowBytes: rowBytes, storage: storage)
    }

    /// The matrix held by a rank-2 ``QuantizedTensor`` of shape `[rows, columns]` (a copy of its bytes).
    /// - Throws: ``TensorError/invalidShape(operation:shape:reason:)`` when the tensor is not rank 2.
    public init(_ tensor: QuantizedTensor) throws {
        guard tensor.shape.count == 2 else {
            throw TensorError.invalidShape(operation: "QuantizedMatrix", shape: tensor.shape, reason: "a matrix is [rows, columns]")
        }
        try self.init(dtype: tensor.dtype, rows: tensor.shape[0], columns: tensor.shape[1], bytes: tensor.bytes)
    }

    /// Encodes a Float32 matrix `[rows, columns]` as `dtype` (see ``Quantization/encode(_:as:into:)``).
    public init(quantizing matrix: Tensor, as dtype: DType) throws {
        try self.init(QuantizedTensor(quantizing: matrix, as: dtype))
    }

    private init(dtype: DType, rows: Int, columns: Int, rowBytes: Int, storage: Storage, offset: Int = 0) {
        self.dtype = dtype
        self.rows = rows
        self.columns = columns
        self.rowBytes = rowBytes
        self.storage = storage
        self.offset = offset
    }

    /// Rows `range` of the matrix as a matrix of their own that shares these bytes (no copy).
    /// - Precondition: `range` lies inside `0..<rows`.
    public func rows(_ range: Range<Int>) -> QuantizedMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside 0..<\(rows)")
        return QuantizedMatrix(dtype: dtype, rows: range.count, columns: columns, rowBytes: rowBytes, storage: storage,
                               offset: offset + range.lowerBound * rowBytes)
    }

    private static func rowBytes(dtype: DType, rows: Int, columns: Int, byteCount: Int) throws -> Int {
        guard rows >= 0, columns >= 0 else {
            throw TensorError.invalidShape(operation: "QuantizedMatrix", shape: [rows, columns], reason: "dimensions must not be negative")
        }
        let rowBytes = try dtype.byteCount(forElements: columns)
        guard byteCount == rows * rowBytes else {
            throw TensorError.countMismatch(operation: "QuantizedMatrix(\(dtype)) bytes", expected: rows * rowBytes, actual: byteCount)
        }
        return rowBytes
    }

    /// `[rows, columns]`.
    public var shape: [Int] { [rows, columns] }

    /// Bytes of the whole matrix: what one product reads.
    public var byteCount: Int { rows * rowBytes }

    /// Calls `body` with the stored bytes (`rows · rowBytes`, possibly unaligned).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base.map { $0 + offset }, count: byteCount))
    }

    /// Row `row` as Float32 into `out` (`columns` floats): an embedding lookup that decodes only the row it needs.
    /// - Precondition: `row` lies inside `0..<rows`.
    public func decodeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(row >= 0 && row < rows, "row \(row) outside 0..<\(rows)")
        withUnsafeBytes { bytes in
            Quantization.decode(UnsafeRawBufferPointer(rebasing: bytes[(row * rowBytes)..<((row + 1) * rowBytes)]), as: dtype,
                                count: columns, into: out)
        }
    }

    /// The matrix as Float32 `[rows, columns]`: the values every product is defined by.
    public func dequantized() -> Tensor {
        var result = Tensor(shape: shape)
        result.withUnsafeMutableBufferPointer { out in
            withUnsafeBytes { Quantization.decode($0, as: dtype, count: rows * columns, into: out.baseAddress!) }
        }
        return result
    }

    /// The bytes: owned (allocated here, freed with the last copy of the matrix) or borrowed from `owner`.
    private final class Storage: @unchecked Sendable {
        let base: UnsafeRawPointer?
        private let owner: (any AnyObject & Sendable)?

        init(copying bytes: [UInt8]) {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 64)
            bytes.withUnsafeBytes { if let source = $0.baseAddress { memory.copyMemory(from: source, byteCount: $0.count) } }
            base = UnsafeRawPointer(memory)
            owner = nil
        }

        init(base: UnsafeRawPointer?, owner: any AnyObject & Sendable) {
            self.base = base
            self.owner = owner
        }

        deinit {
            if owner == nil, let base { UnsafeMutableRawPointer(mutating: base).deallocate() }
        }
    }
}
