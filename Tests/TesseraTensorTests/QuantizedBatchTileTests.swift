import Testing
import TesseraTensor

/// The VNNI tiles of sixteen weight rows × up to eight activation rows (quantized_vnni_batch.h: one weight row per lane,
/// each block of the sixteen rows transposed once for all activation rows) over every shape of a call: activation rows in
/// one chunk of eight, a chunk and a remainder, two chunks and a remainder; weight tiles that are short, whole and split
/// over pools.
@Suite struct QuantizedBatchTileTests {
    static let types: [DType] = [.q8_0, .q4_0, .q4_1]

    /// Activation rows 2…17 on columns of 1, 2 and 5 blocks and 1, 15, 16, 17 and 40 weight rows: the portable path's
    /// bits, and each activation row's outputs those of its own vector product (batch invariance across chunks of eight).
    @Test(arguments: types)
    func everyChunkOfActivationRowsFoldsAsThePortablePath(dtype: DType) throws {
        guard QuantizedKernelPath.avx512VNNI.isAvailable else { return }
        for columns in [32, 64, 160] {
            for rows in [1, 15, 16, 17, 40] {
                let w = try QuantizedMatrix(quantizing: Fixtures.tensor([rows, columns], stream: "qb.w.\(dtype).\(rows).\(columns)"), as: dtype)
                let x = Fixtures.tensor([17, columns], stream: "qb.x.\(columns)")
                let alone = try (0..<17).map { t in
                    try w.multiply(vector: Tensor(shape: [columns], scalars: Array(x.scalars[(t * columns)..<((t + 1) * columns)])),
                                   path: .avx512VNNI).scalars
                }
                for count in 2...17 {
                    let batch = try Tensor(shape: [count, columns], scalars: Array(x.scalars[0..<(count * columns)]))
                    let portable = try w.multiply(rows: batch, path: .portable)
                    for pool in Fixtures.pools {
                        let y = try w.multiply(rows: batch, pool: pool, path: .avx512VNNI)
                        #expect(y == portable, "\(dtype) [\(rows), \(columns)] R \(count)")
                        for t in 0..<count {
                            #expect(Array(y.scalars[(t * rows)..<((t + 1) * rows)]) == alone[t], "\(dtype) [\(rows), \(columns)] R \(count) row \(t)")
                        }
                    }
                }
            }
        }
    }

    /// Eight activation rows against the float64 product with the dequantized weights and the 8-bit activations.
    @Test(arguments: types)
    func eightRowsAreTheExactProductOnTheQuantizedActivations(dtype: DType) throws {
        guard QuantizedKernelPath.avx512VNNI.isAvailable else { return }
        let w = try QuantizedMatrix(quantizing: Fixtures.tensor([40, 224], stream: "qb.exact.\(dtype)"), as: dtype)
        let x = Fixtures.tensor([8, 224], stream: "qb.exact.x")
        let quantized = (0..<8).flatMap { t in
            QuantizedMatrixTests.kernelActivations(Array(x.scalars[(t * 224)..<((t + 1) * 224)]), dtype: dtype)
        }
        Comparison.expectClose(try w.multiply(rows: x, path: .avx512VNNI).scalars, QuantizedMatrixTests.reference(w, quantized),
                               tolerance: 1e-6, "\(dtype)")
    }

    /// The comparisons catch a transposition slip: weights read in the order a transposition with its chunk and
    /// register indices swapped would read them (lane 4c + g taking row 4g + c) give outputs that are neither the
    /// portable path's bits nor within the float64 tolerance.
    @Test(arguments: types)
    func swappedTranspositionIsCaught(dtype: DType) throws {
        guard QuantizedKernelPath.avx512VNNI.isAvailable else { return }
        let w = try QuantizedMatrix(quantizing: Fixtures.tensor([32, 96], stream: "qb.slip.\(dtype)"), as: dtype)
        let x = Fixtures.tensor([8, 96], stream: "qb.slip.x")
        let slipped = try w.withUnsafeBytes { bytes in
            let rowBytes = bytes.count / w.rows
            let order = (0..<w.rows).map { i in 16 * (i / 16) + 4 * (i % 4) + (i % 16) / 4 }
            return try QuantizedMatrix(dtype: dtype, rows: w.rows, columns: w.columns,
                                       bytes: order.flatMap { Array(bytes[($0 * rowBytes)..<(($0 + 1) * rowBytes)]) })
        }
        let portable = try w.multiply(rows: x, path: .portable)
        #expect(try w.multiply(rows: x, path: .avx512VNNI) == portable)
        let wrong = try slipped.multiply(rows: x, path: .avx512VNNI)
        #expect(wrong != portable)
        #expect(!Comparison.isClose(wrong.scalars, portable.doubles, tolerance: QuantizedMatrixTests.tolerance[dtype]!))
    }
}
