import Testing
import TesseraTensor

/// The multi-row block products (Q8_0, Q4_0, Q4_1): every activation row's outputs are the same bits whatever
/// else is in the batch, on every kernel path and pool, and the AVX-512 VNNI tiles fold exactly as the portable path.
@Suite struct QuantizedTileTests {
    static let types: [DType] = [.q8_0, .q4_0, .q4_1]
    /// 37 weight rows: two tiles of 16 and a tail of 5 (tiles of four with a tail of one).
    static let rows = 37, columns = 96

    static func weights(_ dtype: DType) throws -> QuantizedMatrix {
        try QuantizedMatrix(quantizing: Fixtures.tensor([rows, columns], stream: "qt.w.\(dtype)"), as: dtype)
    }

    static func activations(_ count: Int) -> Tensor { Fixtures.tensor([count, columns], stream: "qt.x.\(count)") }

    static func row(_ x: Tensor, _ t: Int) throws -> Tensor {
        try Tensor(shape: [columns], scalars: Array(x.scalars[(t * columns)..<((t + 1) * columns)]))
    }

    /// `R` = 1…9 rows (groups of four and tails of one to three) give each row exactly its vector product.
    @Test(arguments: types, QuantizedMatrixTests.paths)
    func everyBatchSizeGivesEachRowItsVectorProduct(dtype: DType, path: QuantizedKernelPath) throws {
        let w = try Self.weights(dtype), x = Self.activations(9)
        let alone = try (0..<9).map { try w.multiply(vector: Self.row(x, $0), path: path).scalars }
        for count in 1...9 {
            let batch = try Tensor(shape: [count, Self.columns], scalars: Array(x.scalars[0..<(count * Self.columns)]))
            for pool in Fixtures.pools {
                let y = try w.multiply(rows: batch, pool: pool, path: path)
                for t in 0..<count {
                    #expect(Array(y.scalars[(t * Self.rows)..<((t + 1) * Self.rows)]) == alone[t], "\(dtype) \(path) R \(count) row \(t)")
                }
            }
        }
    }

    /// Each path against the float64 product with the dequantized weights and the 8-bit activations, R = 6.
    @Test(arguments: types, QuantizedMatrixTests.paths)
    func rowsAreTheExactProductOnTheQuantizedActivations(dtype: DType, path: QuantizedKernelPath) throws {
        let w = try Self.weights(dtype), x = Self.activations(6)
        let quantized = (0..<6).flatMap { t in
            QuantizedMatrixTests.kernelActivations(Array(x.scalars[(t * Self.columns)..<((t + 1) * Self.columns)]), dtype: dtype)
        }
        let y = try w.multiply(rows: x, path: path)
        Comparison.expectClose(y.scalars, QuantizedMatrixTests.reference(w, quantized), tolerance: 1e-6, "\(dtype) \(path)")
    }

    /// The VNNI tiles give the portable path's bits, for one row and for a batch (this CPU permitting).
    @Test(arguments: types)
    func vnniTilesFoldAsThePortablePath(dtype: DType) throws {
        guard QuantizedKernelPath.avx512VNNI.isAvailable else { return }
        let w = try Self.weights(dtype), x = Self.activations(7)
        #expect(try w.multiply(rows: x, path: .avx512VNNI) == w.multiply(rows: x, path: .portable), "\(dtype)")
        let one = try Self.row(x, 3)
        #expect(try w.multiply(vector: one, path: .avx512VNNI) == w.multiply(vector: one, path: .portable), "\(dtype)")
    }

    /// The bit-for-bit checks can fail: the AVX2 path sums each block into eight lanes and folds them at the end,
    /// another order of the same sums, and differs from the portable path in some output's last bits.
    @Test(arguments: types)
    func anotherFoldOrderIsCaughtByTheBitwiseComparison(dtype: DType) throws {
        guard QuantizedKernelPath.avx2.isAvailable else { return }
        let w = try Self.weights(dtype), x = Self.activations(7)
        let avx2 = try w.multiply(rows: x, path: .avx2), portable = try w.multiply(rows: x, path: .portable)
        #expect(avx2 != portable, "\(dtype)")
        Comparison.expectClose(avx2.scalars, portable.doubles, tolerance: 1e-5, "\(dtype)")
    }

    /// A matrix of fewer rows than a tile and a single block per row.
    @Test(arguments: types, QuantizedMatrixTests.paths)
    func smallMatricesMultiply(dtype: DType, path: QuantizedKernelPath) throws {
        let w = try QuantizedMatrix(quantizing: Fixtures.tensor([3, 32], stream: "qt.small.\(dtype)"), as: dtype)
        let x = Fixtures.tensor([5, 32], stream: "qt.small.x")
        Comparison.expectClose(try w.multiply(rows: x, path: path).scalars, QuantizedMatrixTests.reference(w, x.doubles),
                               tolerance: QuantizedMatrixTests.tolerance[dtype]!, "\(dtype) \(path)")
    }
}
