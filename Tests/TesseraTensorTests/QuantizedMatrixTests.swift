import Testing
import TesseraTensor

/// The in-place products of ``QuantizedMatrix`` against float64 references on the dequantized weights, on every
/// kernel path this CPU runs.
@Suite struct QuantizedMatrixTests {
    static let paths = QuantizedKernelPath.allCases.filter(\.isAvailable)
    static let rows = 19, columns = 512

    /// Max-norm relative error of `W x` against the exact product with the unquantized `x`, per type: the error
    /// of quantizing `x` to 8 bits per block (none for the float types, whose sums are only rounded in Float32).
    /// Measured on these inputs: q8_0 4.9e-3, q4_0 6.2e-3, q4_1 5.9e-3, q4_k 1.4e-2, q6_k 4.0e-3, floats ≤ 5.5e-7.
    static let tolerance: [DType: Double] = [
        .f32: 1e-5, .f16: 1e-5, .bf16: 1e-5, .q8_0: 1e-2, .q4_0: 1e-2, .q4_1: 1e-2, .q5_0: 1e-2, .q4_k: 2e-2, .q6_k: 1e-2,
    ]

    static func weights(_ dtype: DType, rows: Int = rows, columns: Int = columns) throws -> QuantizedMatrix {
        try QuantizedMatrix(quantizing: Fixtures.tensor([rows, columns], stream: "qm.w.\(dtype)"), as: dtype)
    }

    /// `x` as the block kernels see it: per block, `d = max|x| / 127` and `q = round(x · 127 / max|x|)`.
    static func kernelActivations(_ x: [Float], dtype: DType) -> [Double] {
        guard dtype.blockSize > 1 else { return x.doubles }
        return stride(from: 0, to: x.count, by: dtype.blockSize).flatMap { start -> [Double] in
            let block = x[start..<(start + dtype.blockSize)]
            let largest = block.map(abs).max()!
            let inverse: Float = largest != 0 ? 127 / largest : 0
            return block.map { Double(largest / 127) * Double(($0 * inverse).rounded(.toNearestOrEven)) }
        }
    }

    /// `Y = X Wᵀ` in float64 for `X` `[n, columns]` given as doubles.
    static func reference(_ w: QuantizedMatrix, _ x: [Double]) -> [Double] {
        Reference.matmul(x, w.dequantized().doubles, m: x.count / w.columns, n: w.rows, k: w.columns, transposeA: false, transposeB: true)
    }

    /// With `x` replaced by its 8-bit blocks the product is exact up to Float32 rounding (measured ≤ 5.5e-7).
    @Test(arguments: DType.allCases, paths)
    func vectorProductIsExactOnTheQuantizedActivations(dtype: DType, path: QuantizedKernelPath) throws {
        let w = try Self.weights(dtype), x = Fixtures.tensor([Self.columns], stream: "qm.x")
        let y = try w.multiply(vector: x, path: path)
        Comparison.expectClose(y.scalars, Self.reference(w, Self.kernelActivations(x.scalars, dtype: dtype)), tolerance: 1e-6, "\(dtype) \(path)")
    }

    @Test(arguments: DType.allCases, paths)
    func vectorProductIsWithinTheTypesToleranceOfTheExactProduct(dtype: DType, path: QuantizedKernelPath) throws {
        let w = try Self.weights(dtype), x = Fixtures.tensor([Self.columns], stream: "qm.x")
        let y = try w.multiply(vector: x, path: path)
        Comparison.expectClose(y.scalars, Self.reference(w, x.doubles), tolerance: Self.tolerance[dtype]!, "\(dtype) \(path)")
    }

    /// Row `t` of `X Wᵀ` is `W X[t]` bit for bit, on every pool size.
    @Test(arguments: DType.allCases)
    func rowProductEqualsTheVectorProductOfEachRowOnEveryPool(dtype: DType) throws {
        let w = try Self.weights(dtype), x = Fixtures.tensor([5, Self.columns], stream: "qm.rows")
        for pool in Fixtures.pools {
            let y = try w.multiply(rows: x, pool: pool)
            #expect(y.shape == [5, Self.rows])
            for t in 0..<5 {
                let row = try Tensor(shape: [Self.columns], scalars: Array(x.scalars[(t * Self.columns)..<((t + 1) * Self.columns)]))
                let expected = try w.multiply(vector: row, pool: .serial)
                #expect(Array(y.scalars[(t * Self.rows)..<((t + 1) * Self.rows)]) == expected.scalars, "\(dtype) row \(t)")
            }
        }
    }

    /// Weights larger than the kernel's cache tile (256 KiB: here 614 KiB of F32 in three tiles) give each row of
    /// `X Wᵀ` exactly as `W x` does, on every pool.
    @Test func rowProductSpanningSeveralWeightTilesEqualsTheVectorProducts() throws {
        let w = try Self.weights(.f32, rows: 300), x = Fixtures.tensor([3, Self.columns], stream: "qm.tiles.rows")
        for pool in Fixtures.pools {
            let y = try w.multiply(rows: x, pool: pool)
            for t in 0..<3 {
                let row = try Tensor(shape: [Self.columns], scalars: Array(x.scalars[(t * Self.columns)..<((t + 1) * Self.columns)]))
                #expect(Array(y.scalars[(t * 300)..<((t + 1) * 300)]) == (try w.multiply(vector: row)).scalars)
            }
        }
        Comparison.expectClose(try w.multiply(rows: x).scalars, Self.reference(w, x.doubles), "f32 tiles")
    }

    /// Float rows of any length: the vector loop's tail (45 = 32 + 8 + 5).
    @Test(arguments: [DType.f32, .f16, .bf16], paths)
    func floatRowsOfAnyLengthMultiply(dtype: DType, path: QuantizedKernelPath) throws {
        let w = try Self.weights(dtype, rows: 3, columns: 45), x = Fixtures.tensor([2, 45], stream: "qm.tail")
        Comparison.expectClose(try w.multiply(rows: x, path: path).scalars, Self.reference(w, x.doubles), "\(dtype) \(path)")
    }

    /// A matrix borrowing its bytes multiplies as one that owns a copy.
    @Test func borrowedBytesMultiplyAsOwnedBytes() throws {
        let owned = try Self.weights(.q4_k)
        let holder = Holder(try QuantizedTensor(quantizing: Fixtures.tensor([Self.rows, Self.columns], stream: "qm.w.q4_k"), as: .q4_k).bytes)
        let borrowed = try holder.bytes.withUnsafeBytes {
            try QuantizedMatrix(dtype: .q4_k, rows: Self.rows, columns: Self.columns, borrowing: $0, owner: holder)
        }
        let x = Fixtures.tensor([Self.columns], stream: "qm.x")
        #expect(try borrowed.multiply(vector: x) == owned.multiply(vector: x))
    }

    /// The comparisons can fail: weights whose nibbles are swapped in every byte (the classic slip of reading the
    /// high nibble as element j) are far from the reference of the true weights.
    @Test(arguments: [DType.q4_0, .q4_1, .q5_0, .q4_k, .q6_k], paths)
    func swappedNibbleOrderIsCaught(dtype: DType, path: QuantizedKernelPath) throws {
        let w = try Self.weights(dtype), x = Fixtures.tensor([Self.columns], stream: "qm.x")
        let swapped = try w.withUnsafeBytes { bytes in
            try QuantizedMatrix(dtype: dtype, rows: w.rows, columns: w.columns, bytes: bytes.map { $0 << 4 | $0 >> 4 })
        }
        let expected = Self.reference(w, x.doubles)
        #expect(Comparison.isClose(try w.multiply(vector: x, path: path).scalars, expected, tolerance: Self.tolerance[dtype]!))
        #expect(!Comparison.isClose(try swapped.multiply(vector: x, path: path).scalars, expected, tolerance: Self.tolerance[dtype]!))
    }

    @Test func wrongShapesThrowTypedErrors() throws {
        let w = try Self.weights(.q8_0, rows: 2, columns: 64)
        #expect(throws: TensorError.shapeMismatch(operation: "QuantizedMatrix.multiply(vector:)", expected: [64], actual: [32])) {
            try w.multiply(vector: Tensor(shape: [32]))
        }
        #expect(throws: TensorError.invalidShape(
            operation: "QuantizedMatrix.multiply(rows:)", shape: [3, 32], reason: "expected [n, 64] for a [2, 64] q8_0 matrix")) {
            try w.multiply(rows: Tensor(shape: [3, 32]))
        }
        #expect(throws: TensorError.invalidShape(operation: "DType.byteCount", shape: [100], reason: "100 elements do not fill whole q4_k blocks of 256")) {
            try QuantizedMatrix(dtype: .q4_k, rows: 1, columns: 100, bytes: [])
        }
        #expect(throws: TensorError.countMismatch(operation: "QuantizedMatrix(q6_k) bytes", expected: 420, actual: 419)) {
            try QuantizedMatrix(dtype: .q6_k, rows: 2, columns: 256, bytes: [UInt8](repeating: 0, count: 419))
        }
        #expect(throws: TensorError.invalidShape(operation: "QuantizedMatrix", shape: [2, 2, 32], reason: "a matrix is [rows, columns]")) {
            try QuantizedMatrix(QuantizedTensor(dtype: .q8_0, shape: [2, 2, 32], bytes: [UInt8](repeating: 0, count: 136)))
        }
        #expect(throws: TensorError.invalidShape(operation: "QuantizedMatrix", shape: [-1, 32], reason: "dimensions must not be negative")) {
            try QuantizedMatrix(dtype: .q8_0, rows: -1, columns: 32, bytes: [])
        }
    }

    /// Keeps bytes alive for a borrowing matrix.
    final class Holder: Sendable {
        let bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
    }
}

/// The prefill path: tiles of dequantized weights through `cblas_sgemm`.
@Suite struct QuantizedTileProductTests {
    @Test(arguments: DType.allCases)
    func tileProductIsTheProductWithTheDequantizedWeights(dtype: DType) throws {
        // 300 rows of 512 Float32 span two tiles of 256 rows.
        let w = try QuantizedMatrixTests.weights(dtype, rows: 300), x = Fixtures.tensor([3, 512], stream: "qm.tiles")
        let y = try w.multiplyDequantizingTiles(rows: x)
        #expect(y.shape == [3, 300])
        Comparison.expectClose(y.scalars, QuantizedMatrixTests.reference(w, x.doubles), "\(dtype)")
    }

    @Test func wrongShapeThrows() throws {
        let w = try QuantizedMatrixTests.weights(.q4_0, rows: 2, columns: 64)
        #expect(throws: TensorError.invalidShape(
            operation: "QuantizedMatrix.multiplyDequantizingTiles(rows:)", shape: [64], reason: "expected [n, 64] for a [2, 64] q4_0 matrix")) {
            try w.multiplyDequantizingTiles(rows: Tensor(shape: [64]))
        }
    }
}

/// Several matrices over one input in one call (a layer's fused projections) and row views.
@Suite struct QuantizedMatrixGroupTests {
    /// Outputs side by side equal each matrix's own products bit for bit, with mixed block sizes (Q8_0, Q4_K, F16)
    /// and a row view, on every pool; a row view multiplies as the rows it shares.
    @Test func matricesSideBySideEqualTheirOwnProducts() throws {
        let columns = 512, n = 3
        let matrices = try [QuantizedMatrixTests.weights(.q8_0, rows: 7), QuantizedMatrixTests.weights(.q4_k, rows: 5),
                            QuantizedMatrixTests.weights(.f16, rows: 9).rows(2..<6)]
        let x = Fixtures.tensor([n, columns], stream: "qm.group.x"), total = matrices.reduce(0) { $0 + $1.rows }
        let whole = try QuantizedMatrixTests.weights(.f16, rows: 9).multiply(rows: x)
        for pool in Fixtures.pools {
            var y = [Float](repeating: 0, count: n * total)
            x.withUnsafeBufferPointer { input in
                y.withUnsafeMutableBufferPointer { QuantizedMatrix.multiply(matrices, input.baseAddress!, ldx: columns, rowCount: n, into: $0.baseAddress!, ldy: total, pool: pool) }
            }
            var first = 0
            for matrix in matrices {
                let own = try matrix.multiply(rows: x)
                for t in 0..<n {
                    #expect(Array(y[(t * total + first)..<(t * total + first + matrix.rows)]) == Array(own.scalars[(t * matrix.rows)..<((t + 1) * matrix.rows)]))
                }
                first += matrix.rows
            }
            for t in 0..<n { #expect(Array(y[(t * total + 12)..<(t * total + 16)]) == Array(whole.scalars[(t * 9 + 2)..<(t * 9 + 6)])) }
        }
    }
}
