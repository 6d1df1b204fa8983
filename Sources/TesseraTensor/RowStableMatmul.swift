/// Matrix products whose every output row is computed the same way whatever the number of rows: the
/// batch-invariant products of batched decoding.
///
/// A BLAS `sgemm` picks its kernels and blockings by the matrix sizes, so one row of `x · Wᵀ` may round
/// differently when other rows are stacked beside it; a sequence decoded inside a batch would then drift from
/// the same sequence decoded alone. Here each output element is one dot product (or one column combination)
/// with a fixed order of operations (16-lane fused multiply-adds along the reduction, then a fixed pairwise
/// fold), and rows and columns are only ever tiled around it, so tiling, the row count and the thread count
/// change the speed but never the bits. The weight is read once per tile of four weight rows for all input
/// rows, which is where batching saves memory traffic.
extension Kernels {
    /// `y = x · Wᵀ` (`transposedWeight`, `W: [n, k]`, rows `ldw` apart) or `y = x · W` (`W: [k, n]`), for
    /// `x: [rows, k]` (rows `ldx` apart) and `y: [rows, n]` (rows `ldy` apart), output columns split over `pool`.
    /// Each `y[i, j]` depends only on row `i` of `x`, the weight and `k`.
    public static func rowStableMatmul(_ x: UnsafePointer<Float>, ldx: Int, _ w: UnsafePointer<Float>, transposedWeight: Bool,
                                       ldw: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, n: Int, k: Int,
                                       pool: ComputePool = .serial) {
        guard rows > 0, n > 0 else { return }
        // Enough columns per thread that a split pays for waking a thread.
        let minimumColumns = max(16, pool.minimumElementsPerThread / max(1, k * rows))
        pool.forEachRange(count: n, alignment: 16, minimumPerPart: minimumColumns) { columns in
            if transposedWeight {
                RowStableProducts.dotProducts(x, ldx: ldx, w, ldw: ldw, into: y, ldy: ldy, rows: rows, columns: columns, k: k)
            } else {
                RowStableProducts.columnCombinations(x, ldx: ldx, w, ldw: ldw, into: y, ldy: ldy, rows: rows, columns: columns, k: k)
            }
        }
    }
}

/// The fixed-order pieces of ``Kernels/rowStableMatmul(_:ldx:_:transposedWeight:ldw:into:ldy:rows:n:k:pool:)``.
enum RowStableProducts {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector { VectorMath.load(p) }

    /// The one way a 16-lane accumulator becomes a number: halves folded pairwise, then the lanes' sum.
    @inline(__always)
    static func fold(_ v: Vector) -> Float {
        let eight = v.lowHalf + v.highHalf
        let four = eight.lowHalf + eight.highHalf
        let two = four.lowHalf + four.highHalf
        return two[0] + two[1]
    }

    /// The tail of a dot product past the last full 16 lanes, in order.
    @inline(__always)
    static func tail(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, from start: Int, to k: Int, onto sum: Float) -> Float {
        var sum = sum
        for c in start..<k { sum = sum.addingProduct(a[c], b[c]) }
        return sum
    }

    /// `y[i, j] = x[i, :] · W[j, :]` for `j ∈ columns`: four weight rows at a time against every input row, two
    /// input rows at a time; each dot product is the same sequence of operations in every tile shape.
    static func dotProducts(_ x: UnsafePointer<Float>, ldx: Int, _ w: UnsafePointer<Float>, ldw: Int,
                            into y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, columns: Range<Int>, k: Int) {
        let full = k / 16 * 16
        var j = columns.lowerBound
        while j + 4 <= columns.upperBound {
            let w0 = w + j * ldw, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw
            var i = 0
            while i + 2 <= rows {
                let xa = x + i * ldx, xb = xa + ldx
                var a0 = Vector(), a1 = Vector(), a2 = Vector(), a3 = Vector()
                var b0 = Vector(), b1 = Vector(), b2 = Vector(), b3 = Vector()
                var c = 0
                while c < full {
                    let va = load(xa + c), vb = load(xb + c)
                    let u0 = load(w0 + c), u1 = load(w1 + c), u2 = load(w2 + c), u3 = load(w3 + c)
                    a0.addProduct(va, u0); a1.addProduct(va, u1); a2.addProduct(va, u2); a3.addProduct(va, u3)
                    b0.addProduct(vb, u0); b1.addProduct(vb, u1); b2.addProduct(vb, u2); b3.addProduct(vb, u3)
                    c += 16
                }
                let ya = y + i * ldy + j, yb = ya + ldy
                ya[0] = tail(xa, w0, from: full, to: k, onto: fold(a0)); ya[1] = tail(xa, w1, from: full, to: k, onto: fold(a1))
                ya[2] = tail(xa, w2, from: full, to: k, onto: fold(a2)); ya[3] = tail(xa, w3, from: full, to: k, onto: fold(a3))
                yb[0] = tail(xb, w0, from: full, to: k, onto: fold(b0)); yb[1] = tail(xb, w1, from: full, to: k, onto: fold(b1))
                yb[2] = tail(xb, w2, from: full, to: k, onto: fold(b2)); yb[3] = tail(xb, w3, from: full, to: k, onto: fold(b3))
                i += 2
            }
            if i < rows {
                let xa = x + i * ldx
                var a0 = Vector(), a1 = Vector(), a2 = Vector(), a3 = Vector()
                var c = 0
                while c < full {
                    let va = load(xa + c)
                    a0.addProduct(va, load(w0 + c)); a1.addProduct(va, load(w1 + c))
                    a2.addProduct(va, load(w2 + c)); a3.addProduct(va, load(w3 + c))
                    c += 16
                }
                let ya = y + i * ldy + j
                ya[0] = tail(xa, w0, from: full, to: k, onto: fold(a0)); ya[1] = tail(xa, w1, from: full, to: k, onto: fold(a1))
                ya[2] = tail(xa, w2, from: full, to: k, onto: fold(a2)); ya[3] = tail(xa, w3, from: full, to: k, onto: fold(a3))
            }
            j += 4
        }
        for j in j..<columns.upperBound {
            for i in 0..<rows { y[i * ldy + j] = dot(x + i * ldx, w + j * ldw, full: full, k: k) }
        }
    }

    /// One dot product in the fixed order.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, full: Int, k: Int) -> Float {
        var acc = Vector()
        var c = 0
        while c < full {
            acc.addProduct(load(a + c), load(b + c))
            c += 16
        }
        return tail(a, b, from: full, to: k, onto: fold(acc))
    }

    /// `y[i, j] = Σ_c x[i, c] · W[c, j]` for `j ∈ columns`, each sum taken in order of `c` (16 columns side by
    /// side in one register; the same operations per column in a vector lane or alone).
    static func columnCombinations(_ x: UnsafePointer<Float>, ldx: Int, _ w: UnsafePointer<Float>, ldw: Int,
                                   into y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, columns: Range<Int>, k: Int) {
        let vectorEnd = columns.lowerBound + columns.count / 16 * 16
        for i in 0..<rows {
            let xi = x + i * ldx, yi = y + i * ldy
            var j = columns.lowerBound
            while j + 64 <= vectorEnd {
                var s0 = Vector(), s1 = Vector(), s2 = Vector(), s3 = Vector()
                for c in 0..<k {
                    let a = Vector(repeating: xi[c]), row = w + c * ldw + j
                    s0.addProduct(a, load(row)); s1.addProduct(a, load(row + 16))
                    s2.addProduct(a, load(row + 32)); s3.addProduct(a, load(row + 48))
                }
                VectorMath.store(s0, yi + j)
                VectorMath.store(s1, yi + j + 16)
                VectorMath.store(s2, yi + j + 32)
                VectorMath.store(s3, yi + j + 48)
                j += 64
            }
            while j < vectorEnd {
                var s = Vector()
                for c in 0..<k { s.addProduct(Vector(repeating: xi[c]), load(w + c * ldw + j)) }
                VectorMath.store(s, yi + j)
                j += 16
            }
            for j in j..<columns.upperBound {
                var s: Float = 0
                for c in 0..<k { s = s.addingProduct(xi[c], w[c * ldw + j]) }
                yi[j] = s
            }
        }
    }
}

extension Vector {
    /// `self += a · b` lane by lane, fused.
    @inline(__always)
    mutating func addProduct(_ a: Self, _ b: Self) { self = addingProduct(a, b) }
}
