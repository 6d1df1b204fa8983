import Testing
import TesseraTensor

/// The batch-invariant product of batched decoding: right against a float64 reference, and each output row
/// bitwise the same whatever rows stand beside it, whatever the thread count.
@Suite(.serialized) struct RowStableMatmulTests {
    /// `y = x · op(W)` with row-strided operands, `W` as `[n, k]` (transposed) or `[k, n]`.
    static func product(_ x: [Float], ldx: Int, _ w: [Float], transposed: Bool, ldw: Int, rows: Int, n: Int, k: Int,
                        pool: ComputePool = .serial) -> [Float] {
        var y = [Float](repeating: .nan, count: rows * n)
        x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                y.withUnsafeMutableBufferPointer { py in
                    Kernels.rowStableMatmul(px.baseAddress!, ldx: ldx, pw.baseAddress!, transposedWeight: transposed, ldw: ldw,
                                            into: py.baseAddress!, ldy: n, rows: rows, n: n, k: k, pool: pool)
                }
            }
        }
        return y
    }

    /// Sizes with tails everywhere: k not a multiple of 16, n not a multiple of 4 or 16, odd rows; strided rows.
    @Test(arguments: [true, false])
    func matchesTheFloat64Reference(transposed: Bool) {
        let (rows, n, k, ldx) = (5, 83, 37, 40)
        let ldw = transposed ? k + 3 : n + 5
        let x = Fixtures.values(rows * ldx, stream: "rs.x"), w = Fixtures.values((transposed ? n : k) * ldw, stream: "rs.w")
        let y = Self.product(x, ldx: ldx, w, transposed: transposed, ldw: ldw, rows: rows, n: n, k: k)
        let dense = { (values: [Float], count: Int, ld: Int, width: Int) in (0..<count).flatMap { r in values[r * ld..<r * ld + width] } }
        let expected = Reference.matmul(dense(x, rows, ldx, k).doubles, dense(w, transposed ? n : k, ldw, transposed ? k : n).doubles,
                                        m: rows, n: n, k: k, transposeA: false, transposeB: transposed)
        Comparison.expectClose(y, expected, "row-stable product")
    }

    /// Each row of a product of 1…9 rows has the bits of that row computed alone, on 1 or 3 threads.
    @Test(arguments: [true, false])
    func everyRowIsIndependentOfTheOthers(transposed: Bool) {
        let (n, k) = (70, 150)
        let w = Fixtures.values(n * k, stream: "ri.w"), x = Fixtures.values(9 * k, stream: "ri.x")
        let alone = (0..<9).map { Self.product(Array(x[$0 * k..<($0 + 1) * k]), ldx: k, w, transposed: transposed, ldw: transposed ? k : n,
                                               rows: 1, n: n, k: k) }
        let threads = ComputePool(threads: 3, minimumElementsPerThread: 1)
        for rows in 1...9 {
            for pool in [ComputePool.serial, threads] {
                let y = Self.product(x, ldx: k, w, transposed: transposed, ldw: transposed ? k : n, rows: rows, n: n, k: k, pool: pool)
                for r in 0..<rows { #expect(Array(y[r * n..<(r + 1) * n]) == alone[r], "row \(r) of \(rows)") }
            }
        }
    }

    /// Non-vacuity: the bitwise comparison above sees a change of summation order. The same dot products summed
    /// with another blocking (8 lanes instead of 16) differ from the kernel's in some bits for these inputs, so a
    /// kernel whose order followed the row count would fail `everyRowIsIndependentOfTheOthers`.
    @Test func anotherSummationOrderChangesTheBits() {
        let (n, k) = (70, 150)
        let w = Fixtures.values(n * k, stream: "ri.w"), x = Fixtures.values(k, stream: "ri.x")
        let y = Self.product(x, ldx: k, w, transposed: true, ldw: k, rows: 1, n: n, k: k)
        let reordered = (0..<n).map { j -> Float in
            var lanes = [Float](repeating: 0, count: 8)
            for c in 0..<k { lanes[c % 8] = lanes[c % 8].addingProduct(x[c], w[j * k + c]) }
            return lanes.reduce(0, +)
        }
        #expect(y != reordered)
        Comparison.expectClose(reordered, y.map(Double.init), "the other order is still the same product")
    }
}
