import CIntrinsics

/// Which implementation of the quantized dot products runs.
public enum QuantizedKernelPath: String, Sendable, CaseIterable {
    /// Plain C, for every CPU; the reference the vector paths are tested against.
    case portable
    /// AVX2 + FMA (x86-64 CPUs since 2013); chosen at run time, so one binary runs everywhere.
    case avx2
    /// AVX-512 VNNI for Q8_0, Q4_0 and Q4_1, sixteen outputs per register (16 weight rows, one per lane, against
    /// 1 to 8 activation rows), each folded exactly as the portable path folds it, so the two give the same bits; the other types
    /// run the AVX2 kernels.
    case avx512VNNI

    /// The fastest path this CPU runs.
    public static let best: QuantizedKernelPath =
        tq_has_avx512_vnni() != 0 ? .avx512VNNI : tq_has_avx2() != 0 ? .avx2 : .portable

    /// Whether this CPU runs the path.
    public var isAvailable: Bool {
        switch self {
        case .portable: return true
        case .avx2: return tq_has_avx2() != 0
        case .avx512VNNI: return tq_has_avx512_vnni() != 0
        }
    }

    /// The path's code in quantized_dot.h.
    var kernelCode: Int32 {
        switch self {
        case .portable: return Int32(TQ_PATH_PORTABLE)
        case .avx2: return Int32(TQ_PATH_AVX2)
        case .avx512VNNI: return Int32(TQ_PATH_AVX512_VNNI)
        }
    }
}

extension QuantizedMatrix {
    /// `y = W x`.
    ///
    /// For the block types `x` is first quantized to 8 bits per block of the weight's block size, as llama.cpp's
    /// dot products do (one Float32 scale per 32 values for q8_0, q4_0, q4_1, q5_0; per 256 for q4_k, q6_k); the
    /// products of the 8-bit values are summed exactly in integers. F32, F16 and BF16 weights multiply Float32
    /// `x` directly. Rows are split over `pool`; each output is computed by one thread in a fixed order, so
    /// every pool size gives the same bits.
    /// - Parameter vector: `[columns]`.
    /// - Returns: `[rows]`.
    /// - Throws: ``TensorError/shapeMismatch(operation:expected:actual:)`` when `vector` is not `[columns]`;
    ///   ``TensorError/unavailable(operation:reason:)`` when `path` does not run on this CPU.
    public func multiply(vector: Tensor, pool: ComputePool = .serial, path: QuantizedKernelPath = .best) throws -> Tensor {
        try vector.checkShape([columns], "QuantizedMatrix.multiply(vector:)")
        var y = Tensor(shape: [rows])
        try product(vector, rowCount: 1, into: &y, pool: pool, path: path)
        return y
    }

    /// `Y = X Wᵀ`: each row of `X` times `W`, as ``multiply(vector:pool:path:)`` computes it (row `t` of `Y` equals
    /// `multiply(vector: X[t])` bit for bit, whatever else is in the batch).
    /// - Parameter rows: `X`, `[n, columns]`.
    /// - Returns: `[n, rows]`.
    /// - Throws: ``TensorError/invalidShape(operation:shape:reason:)`` when `X` is not `[n, columns]`;
    ///   ``TensorError/unavailable(operation:reason:)`` when `path` does not run on this CPU.
    public func multiply(rows x: Tensor, pool: ComputePool = .serial, path: QuantizedKernelPath = .best) throws -> Tensor {
        guard x.shape.count == 2, x.shape[1] == columns else {
            throw TensorError.invalidShape(
                operation: "QuantizedMatrix.multiply(rows:)", shape: x.shape,
                reason: "expected [n, \(columns)] for a [\(rows), \(columns)] \(dtype) matrix")
        }
        var y = Tensor(shape: [x.shape[0], rows])
        try product(x, rowCount: x.shape[0], into: &y, pool: pool, path: path)
        return y
    }

    /// `y[t] = W x[t]` for `rowCount` rows at `x` (`ldx` apart, default `columns`) into `y` (`ldy` apart, default
    /// `rows`); the unchecked core of the products for callers that manage their own buffers (a layer writing its
    /// outputs into a column block of a wider buffer passes that buffer's width as `ldy`).
    /// - Precondition: `x` holds `rowCount` rows of `columns` floats, `y` room for `rowCount` rows of `rows`;
    ///   `path.isAvailable`.
    public func multiply(
        _ x: UnsafePointer<Float>, ldx: Int? = nil, rowCount: Int, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
        pool: ComputePool = .serial, path: QuantizedKernelPath = .best
    ) {
        Self.multiply([self], x, ldx: ldx ?? columns, rowCount: rowCount, into: y, ldy: ldy ?? rows, pool: pool, path: path)
    }

    /// Several matrices over the same input, their outputs side by side: `y[t, first_i + r] = W_i[r] · x[t]`, where
    /// matrix `i`'s first output column `first_i` is the sum of the rows of the matrices before it (a layer's query,
    /// key and value projections, or its gate and up projections). One pass over the pool's threads, the activations
    /// quantized once per block size; each output is the same dot product ``multiply(vector:pool:path:)`` computes.
    /// - Precondition: every matrix has `columns` columns; `x` holds `rowCount` rows of them (`ldx` apart), `y` room
    ///   for `rowCount` rows (`ldy` apart) of the total rows; `path.isAvailable`.
    public static func multiply(
        _ matrices: [QuantizedMatrix], _ x: UnsafePointer<Float>, ldx: Int, rowCount: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
        pool: ComputePool = .serial, path: QuantizedKernelPath = .best
    ) {
        precondition(path.isAvailable, "the \(path) kernels do not run on this CPU")
        guard rowCount > 0, let columns = matrices.first?.columns else { return }
        precondition(matrices.allSatisfy { $0.columns == columns }, "matrices over one input must have equal columns")
        // One quantized form of the activations per block size (usually one: a layer's matrices share a type).
        var forms: [(blockSize: Int, rows: ActivationRows)] = []
        for matrix in matrices where !forms.contains(where: { $0.blockSize == matrix.dtype.blockSize }) {
            forms.append((matrix.dtype.blockSize, ActivationRows(x, ldx: ldx, rowCount: rowCount, columns: columns, dtype: matrix.dtype)))
        }
        defer { for form in forms { form.rows.deallocate() } }
        let total = matrices.reduce(0) { $0 + $1.rows }
        let minimumRows = max(1, pool.minimumElementsPerThread / max(1, columns * rowCount))
        pool.forEachRange(count: total, alignment: 16, minimumPerPart: minimumRows) { range in
            var first = 0
            for matrix in matrices {
                defer { first += matrix.rows }
                let begin = max(range.lowerBound, first) - first, end = min(range.upperBound, first + matrix.rows) - first
                guard begin < end, let form = forms.first(where: { $0.blockSize == matrix.dtype.blockSize })?.rows else { continue }
                matrix.withUnsafeBytes { weights in
                    let product = matrix.layout == .interleaved ? tq_rows_interleaved : tq_rows
                    product(matrix.dtype.kernelCode, weights.baseAddress, matrix.rowBytes, Int32(begin), Int32(end), form.base, form.rowBytes,
                            Int32(rowCount), Int32(columns), y + first, ldy, path.kernelCode)
                }
            }
        }
    }

    private func product(_ x: Tensor, rowCount: Int, into y: inout Tensor, pool: ComputePool, path: QuantizedKernelPath) throws {
        guard path.isAvailable else {
            throw TensorError.unavailable(
                operation: "QuantizedMatrix.multiply", reason: "this CPU cannot run the \(path) kernels; use QuantizedKernelPath.best")
        }
        x.withUnsafeBufferPointer { input in
            y.withUnsafeMutableBufferPointer { output in
                multiply(input.baseAddress!, rowCount: rowCount, into: output.baseAddress!, pool: pool, path: path)
            }
        }
    }
}

extension DType {
    /// The type's code in quantized_dot.h.
    var kernelCode: Int32 {
        switch self {
        case .f32: return Int32(TQ_F32)
        case .f16: return Int32(TQ_F16)
        case .bf16: return Int32(TQ_BF16)
        case .q8_0: return Int32(TQ_Q8_0)
        case .q4_0: return Int32(TQ_Q4_0)
        case .q4_1: return Int32(TQ_Q4_1)
        case .q5_0: return Int32(TQ_Q5_0)
        case .q4_k: return Int32(TQ_Q4_K)
        case .q6_k: return Int32(TQ_Q6_K)
        }
    }
}

/// The activations in the form the dot products of a weight type read: Float32 rows for F32, F16 and BF16 (no
/// copy), 8-bit blocks of 32 or 256 for the block types.
private struct ActivationRows {
    let base: UnsafeRawPointer
    let rowBytes: Int
    private let allocated: UnsafeMutableRawPointer?

    init(_ x: UnsafePointer<Float>, ldx: Int, rowCount: Int, columns: Int, dtype: DType) {
        guard dtype.blockSize > 1 else {
            base = UnsafeRawPointer(x)
            rowBytes = ldx * MemoryLayout<Float>.stride
            allocated = nil
            return
        }
        let block = dtype.blockSize
        let blockBytes = block == 256 ? MemoryLayout<tq_q8_256>.stride : MemoryLayout<tq_q8_32>.stride
        rowBytes = columns / block * blockBytes
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(1, rowCount * rowBytes), alignment: 64)
        tq_quantize_rows(x, ldx, Int32(rowCount), Int32(columns), Int32(block), memory, rowBytes)
        base = UnsafeRawPointer(memory)
        allocated = memory
    }

    func deallocate() { allocated?.deallocate() }
}
