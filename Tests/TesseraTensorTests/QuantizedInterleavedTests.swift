import Testing
import TesseraTensor

/// The interleaved layout of Q8_0, Q4_0 and Q4_1 matrices (``QuantizedMatrix/interleaved()``, quantized_interleave.h):
/// every product on every kernel path, every decoded row and every view gives the bits of the row-major matrix it was
/// made from, for row counts that are and are not whole groups of sixteen.
@Suite struct QuantizedInterleavedTests {
    static let types: [DType] = [.q8_0, .q4_0, .q4_1]
    static let rowCounts = [1, 15, 16, 17, 40, 48]

    /// Decoded values (whole matrix, single rows, tiles starting inside a group) equal the row-major matrix's.
    @Test(arguments: types)
    func decodingGivesTheRowMajorValues(dtype: DType) throws {
        for rows in Self.rowCounts {
            let w = try QuantizedMatrix(quantizing: Fixtures.tensor([rows, 96], stream: "il.decode.\(dtype).\(rows)"), as: dtype)
            let packed = w.interleaved()
            #expect(packed.layout == .interleaved && w.layout == .rows)
            #expect(packed.dequantized() == w.dequantized(), "\(dtype) rows \(rows)")
            var row = [Float](repeating: 0, count: 96), expected = row
            for r in 0..<rows {
                packed.decodeRow(r, into: &row)
                w.decodeRow(r, into: &expected)
                #expect(row == expected, "\(dtype) rows \(rows) row \(r)")
            }
        }
    }

    /// Products of 1…9 activation rows on every available path, on a pool of one and of several threads (ranges that
    /// start inside a group), equal the row-major matrix's products on the same path bit for bit (AVX2 folds in its
    /// own order; AVX-512 VNNI gives the portable bits).
    @Test(arguments: types)
    func productsOnEveryPathGiveThePortableBits(dtype: DType) throws {
        for rows in Self.rowCounts {
            let w = try QuantizedMatrix(quantizing: Fixtures.tensor([rows, 160], stream: "il.product.\(dtype).\(rows)"), as: dtype)
            let packed = w.interleaved()
            for count in [1, 2, 7, 8, 9] {
                let x = Fixtures.tensor([count, 160], stream: "il.product.x.\(count)")
                for path in QuantizedKernelPath.allCases where path.isAvailable {
                    let expected = try w.multiply(rows: x, path: path)
                    for pool in Fixtures.pools {
                        #expect(try packed.multiply(rows: x, pool: pool, path: path) == expected, "\(dtype) rows \(rows) R \(count) \(path)")
                    }
                }
            }
        }
    }

    /// Several interleaved matrices over one input, side by side (a layer's query, key and value projections), with row
    /// counts that are not whole groups, so a thread's range of the concatenated outputs starts inside a group.
    @Test(arguments: types)
    func matricesSideBySideGiveTheirOwnProducts(dtype: DType) throws {
        let matrices = try [17, 40, 9].enumerated().map { i, rows in
            try QuantizedMatrix(quantizing: Fixtures.tensor([rows, 64], stream: "il.fused.\(dtype).\(i)"), as: dtype)
        }
        let x = Fixtures.tensor([3, 64], stream: "il.fused.x")
        let expected = try matrices.map { try $0.multiply(rows: x, path: .portable) }
        for pool in Fixtures.pools {
            var y = [Float](repeating: .nan, count: 3 * 66)
            x.withUnsafeBufferPointer { input in
                QuantizedMatrix.multiply(matrices.map { $0.interleaved() }, input.baseAddress!, ldx: 64, rowCount: 3, into: &y, ldy: 66, pool: pool)
            }
            var first = 0
            for (matrix, product) in zip(matrices, expected) {
                for t in 0..<3 {
                    #expect(Array(y[(t * 66 + first)..<(t * 66 + first + matrix.rows)]) == Array(product.scalars[(t * matrix.rows)..<((t + 1) * matrix.rows)]))
                }
                first += matrix.rows
            }
        }
    }

    /// Views: rows starting on a group share the interleaved bytes; rows starting inside one are copied back to the
    /// row-major layout; both give the parent's values. Dequantized tiles (the prefill path) start inside groups too.
    @Test(arguments: types)
    func viewsAndTilesGiveTheParentsValues(dtype: DType) throws {
        let w = try QuantizedMatrix(quantizing: Fixtures.tensor([48, 64], stream: "il.view.\(dtype)"), as: dtype)
        let packed = w.interleaved(), x = Fixtures.tensor([5, 64], stream: "il.view.x")
        for range in [16..<48, 16..<37, 5..<30, 0..<1] {
            let view = packed.rows(range)
            #expect(view.layout == (range.lowerBound % 16 == 0 ? .interleaved : .rows), "\(range)")
            #expect(try view.multiply(rows: x, path: .best) == w.rows(range).multiply(rows: x, path: .portable), "\(dtype) \(range)")
            #expect(view.dequantized() == w.rows(range).dequantized(), "\(dtype) \(range)")
        }
        #expect(try packed.multiplyDequantizingTiles(rows: x) == w.multiplyDequantizingTiles(rows: x))
        #expect(packed.interleaved().layout == .interleaved)
    }

    /// Copies placed in a ``WeightArena`` (a loader's regions on huge pages) give the same products and values as
    /// copies of their own, after the arena's other matrices were made (a region shared by several matrices, and a matrix
    /// larger than a region in a region of its own).
    @Test(arguments: types)
    func copiesInAnArenaGiveTheSameValues(dtype: DType) throws {
        let arena = WeightArena(regionBytes: 4096)
        let small = try (0..<3).map { try QuantizedMatrix(quantizing: Fixtures.tensor([40, 64], stream: "il.arena.\(dtype).\($0)"), as: dtype) }
        let placed = small.map { $0.interleaved(in: arena) }
        let large = try QuantizedMatrix(quantizing: Fixtures.tensor([48, 512], stream: "il.arena.large.\(dtype)"), as: dtype)
        #expect(large.interleaved(in: arena).dequantized() == large.dequantized())
        let x = Fixtures.tensor([3, 64], stream: "il.arena.x")
        for (matrix, copy) in zip(small, placed) {
            #expect(copy.layout == .interleaved)
            #expect(try copy.multiply(rows: x, path: .best) == matrix.interleaved().multiply(rows: x, path: .best))
            #expect(copy.dequantized() == matrix.dequantized())
            #expect(copy.withUnsafeBytes { Int(bitPattern: $0.baseAddress) % 64 } == 0)
        }
    }

    /// The comparisons catch a layout slip: interleaved bytes taken as row-major ones (what a loader that
    /// interleaved a matrix but lost its layout would multiply) give other products, far outside the tolerance.
    @Test(arguments: types)
    func interleavedBytesReadAsRowsAreCaught(dtype: DType) throws {
        let w = try QuantizedMatrix(quantizing: Fixtures.tensor([32, 96], stream: "il.slip.\(dtype)"), as: dtype)
        let x = Fixtures.tensor([4, 96], stream: "il.slip.x")
        let portable = try w.multiply(rows: x, path: .portable)
        let slipped = try QuantizedMatrix(dtype: dtype, rows: 32, columns: 96, bytes: packed(w))
        #expect(try w.interleaved().multiply(rows: x, path: .best) == portable)
        let wrong = try slipped.multiply(rows: x, path: .portable)
        #expect(wrong != portable)
        #expect(!Comparison.isClose(wrong.scalars, portable.doubles, tolerance: QuantizedMatrixTests.tolerance[dtype]!))
    }

    /// The interleaved bytes of `w`.
    private func packed(_ w: QuantizedMatrix) -> [UInt8] { w.interleaved().withUnsafeBytes { Array($0) } }
}
