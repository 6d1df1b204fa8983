import CIntrinsics

/// A weight matrix `W` of shape `[rows, columns]` kept in its stored ``DType`` and multiplied in place: the
/// products (``multiply(vector:pool:path:)``, ``multiply(rows:pool:path:)``) read the blocks directly and never
/// build a Float32 copy of `W`.
///
/// In the ``Layout/rows`` layout row `r` is `rowBytes` bytes at offset `r · rowBytes`, laid out as ``DType`` defines
/// (ggml's layout, so a GGUF tensor whose innermost dimension is `columns` is such a matrix as it lies in the file).
/// ``interleaved(in:)`` rearranges Q8_0, Q4_0 and Q4_1 matrices into the layout the AVX-512 VNNI kernels read
/// (``Layout/interleaved``); every operation gives the same values in either layout. The bytes either belong to the
/// matrix (copied at initialization) or are borrowed from an owner that keeps them alive, such as a memory-mapped
/// checkpoint: then the weights cost no memory beyond the mapping's resident pages.
///
/// The value is immutable, so sharing it between threads is safe.
public struct QuantizedMatrix: Sendable {
    /// How the blocks of the rows lie in memory.
    public enum Layout: Sendable, Equatable {
        /// Row after row, each as ``DType`` defines it: the layout of GGUF and safetensors files.
        case rows
        /// Groups of sixteen rows, each block of the sixteen rows stored as whole vector registers: their quantized
        /// bytes word by word, then their scales (and Q4_1's minimums). A group takes the bytes its sixteen rows take
        /// (the last group of a matrix is padded to sixteen rows); Sources/CIntrinsics/quantized_interleave.h has
        /// the byte-level definition.
        case interleaved
    }

    /// The stored element type.
    public let dtype: DType
    /// Output features: the length of `W x`.
    public let rows: Int
    /// Input features: the length of `x`; a multiple of `dtype.blockSize`.
    public let columns: Int
    /// Bytes of one stored row.
    public let rowBytes: Int
    /// How the rows lie in memory.
    public let layout: Layout
    private let storage: Storage
    /// Byte offset of row 0 in `storage` (non-zero for a view made by ``rows(_:)``).
    private let offset: Int

    /// Copies `bytes` (`rows · rowBytes` of them) into storage of its own, aligned to cache lines.
    /// - Throws: ``TensorError/invalidShape(operation:shape:reason:)`` when `columns` is not whole blocks of
    ///   `dtype` or a dimension is negative; ``TensorError/countMismatch(operation:expected:actual:)`` when
    ///   `bytes` has the wrong length.
    public init(dtype: DType, rows: Int, columns: Int, bytes: [UInt8]) throws {
        let rowBytes = try Self.rowBytes(dtype: dtype, rows: rows, columns: columns, byteCount: bytes.count)
        self.init(dtype: dtype, rows: rows, columns: columns, rowBytes: rowBytes, layout: .rows, storage: Storage(copying: bytes))
    }

    /// Borrows `bytes` without copying; `owner` is retained for as long as the matrix (or a copy of it) lives
    /// and must keep `bytes` valid and unchanged (a memory-mapped file object, for example).
    /// - Throws: as ``init(dtype:rows:columns:bytes:)``.
    public init(dtype: DType, rows: Int, columns: Int, borrowing bytes: UnsafeRawBufferPointer, owner: some AnyObject & Sendable) throws {
        let rowBytes = try Self.rowBytes(dtype: dtype, rows: rows, columns: columns, byteCount: bytes.count)
        let storage = Storage(base: bytes.baseAddress, owner: owner)
        self.init(dtype: dtype, rows: rows, columns: columns, rowBytes: rowBytes, layout: .rows, storage: storage)
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

    private init(dtype: DType, rows: Int, columns: Int, rowBytes: Int, layout: Layout, storage: Storage, offset: Int = 0) {
        self.dtype = dtype
        self.rows = rows
        self.columns = columns
        self.rowBytes = rowBytes
        self.layout = layout
        self.storage = storage
        self.offset = offset
    }

    /// Rows `range` of the matrix as a matrix of their own that shares these bytes (no copy); for an interleaved
    /// matrix whose `range` does not start on a group of sixteen rows, a copy of those rows in the ``Layout/rows``
    /// layout.
    /// - Precondition: `range` lies inside `0..<rows`.
    public func rows(_ range: Range<Int>) -> QuantizedMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside 0..<\(rows)")
        guard layout == .rows || range.lowerBound % Self.groupRows == 0 else {
            let storage = Storage(byteCount: range.count * rowBytes) { out in
                withUnsafeBytes { tq_deinterleave(dtype.kernelCode, $0.baseAddress, rowBytes, Int32(range.lowerBound), Int32(range.upperBound), out) }
            }
            return QuantizedMatrix(dtype: dtype, rows: range.count, columns: columns, rowBytes: rowBytes, layout: .rows, storage: storage)
        }
        return QuantizedMatrix(dtype: dtype, rows: range.count, columns: columns, rowBytes: rowBytes, layout: layout, storage: storage,
                               offset: offset + range.lowerBound * rowBytes)
    }

    /// Rows of a group of the ``Layout/interleaved`` layout.
    static let groupRows = 16

    /// Bytes of `rows` rows in the ``Layout/interleaved`` layout: whole groups of sixteen.
    private static func interleavedByteCount(rows: Int, rowBytes: Int) -> Int {
        (rows + groupRows - 1) / groupRows * groupRows * rowBytes
    }

    /// Whether `dtype` has an ``Layout/interleaved`` layout (Q8_0, Q4_0 and Q4_1).
    public static func interleaves(_ dtype: DType) -> Bool { tq_interleaves(dtype.kernelCode) != 0 }

    /// The matrix in the ``Layout/interleaved`` layout, in storage of its own or in `arena` (`self` when it is already
    /// interleaved or its type has no such layout): the layout the AVX-512 VNNI products read fastest, made once when a
    /// model loads. Every product and decoded row of the result equals this matrix's bit for bit.
    public func interleaved(in arena: WeightArena? = nil) -> QuantizedMatrix {
        guard layout == .rows, Self.interleaves(dtype) else { return self }
        let byteCount = Self.interleavedByteCount(rows: rows, rowBytes: rowBytes)
        func fill(_ out: UnsafeMutableRawPointer) {
            withUnsafeBytes { tq_interleave(dtype.kernelCode, $0.baseAddress, rowBytes, Int32(rows), out) }
        }
        let storage: Storage
        if let arena {
            let memory = arena.allocate(byteCount: byteCount)
            fill(memory)
            storage = Storage(base: UnsafeRawPointer(memory), owner: arena)
        } else {
            storage = Storage(byteCount: byteCount, initialize: fill)
        }
        return QuantizedMatrix(dtype: dtype, rows: rows, columns: columns, rowBytes: rowBytes, layout: .interleaved, storage: storage)
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

    /// Calls `body` with the stored bytes in ``layout``: `rows · rowBytes` of them, possibly unaligned, or for an
    /// interleaved matrix its whole groups (`⌈rows / 16⌉ · 16 · rowBytes`).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let count = layout == .rows ? byteCount : Self.interleavedByteCount(rows: rows, rowBytes: rowBytes)
        return try body(UnsafeRawBufferPointer(start: storage.base.map { $0 + offset }, count: count))
    }

    /// Row `row` as Float32 into `out` (`columns` floats): an embedding lookup that decodes only the row it needs.
    /// - Precondition: `row` lies inside `0..<rows`.
    public func decodeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(row >= 0 && row < rows, "row \(row) outside 0..<\(rows)")
        decodeRows(row..<row + 1, into: out)
    }

    /// Rows `range` as Float32 `[range.count, columns]` into `out`, in either layout.
    /// - Precondition: `range` lies inside `0..<rows`.
    func decodeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        withUnsafeBytes { bytes in
            guard layout == .interleaved else {
                let rowBytes = UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound * rowBytes)..<(range.upperBound * rowBytes)])
                return Quantization.decode(rowBytes, as: dtype, count: range.count * columns, into: out)
            }
            // A group of sixteen rows at a time, put back in row-major order first.
            withUnsafeTemporaryAllocation(byteCount: Self.groupRows * rowBytes, alignment: 64) { buffer in
                var first = range.lowerBound
                while first < range.upperBound {
                    let end = min(range.upperBound, (first / Self.groupRows + 1) * Self.groupRows)
                    tq_deinterleave(dtype.kernelCode, bytes.baseAddress, rowBytes, Int32(first), Int32(end), buffer.baseAddress)
                    Quantization.decode(UnsafeRawBufferPointer(start: buffer.baseAddress, count: (end - first) * rowBytes), as: dtype,
                                        count: (end - first) * columns, into: out + (first - range.lowerBound) * columns)
                    first = end
                }
            }
        }
    }

    /// The matrix as Float32 `[rows, columns]`: the values every product is defined by.
    public func dequantized() -> Tensor {
        var result = Tensor(shape: shape)
        result.withUnsafeMutableBufferPointer { out in decodeRows(0..<rows, into: out.baseAddress!) }
        return result
    }

    /// The bytes: owned (allocated here, freed with the last copy of the matrix) or borrowed from `owner`.
    private final class Storage: @unchecked Sendable {
        let base: UnsafeRawPointer?
        private let owner: (any AnyObject & Sendable)?

        convenience init(copying bytes: [UInt8]) {
            self.init(byteCount: bytes.count) { memory in
                bytes.withUnsafeBytes { if let source = $0.baseAddress { memory.copyMemory(from: source, byteCount: $0.count) } }
            }
        }

        /// `byteCount` bytes of its own, aligned to cache lines, written by `initialize`.
        init(byteCount: Int, initialize: (UnsafeMutableRawPointer) -> Void) {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: max(1, byteCount), alignment: 64)
            initialize(memory)
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
