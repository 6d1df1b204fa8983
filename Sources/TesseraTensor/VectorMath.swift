/// Sixteen Float32 lanes: two AVX2 registers, one AVX-512 register. Kernels work in these so that
/// reductions vectorize (the compiler does not reorder scalar floating-point sums).
typealias Vector = SIMD16<Float>

/// Vectorized math shared by the kernels: unaligned loads and stores, partial vectors for loop tails,
/// reductions, and `exp`/sigmoid accurate to a few ulp.
enum VectorMath {
    static let width = Vector.scalarCount

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
    }

    /// The first `count` (≤ 16) elements at `p`, the other lanes `padding`.
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, count: Int, padding: Float = 0) -> Vector {
        if count == width { return load(p) }
        var v = Vector(repeating: padding)
        for lane in 0..<count { v[lane] = p[lane] }
        return v
    }

    /// Writes the first `count` (≤ 16) lanes of `v` to `p`.
    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, count: Int) {
        if count == width { return store(v, p) }
        for lane in 0..<count { p[lane] = v[lane] }
    }

    /// Lane-wise maximum (`pointwiseMax` is scalarized by the compiler; a masked replace is not).
    @inline(__always)
    static func maximum(_ a: Vector, _ b: Vector) -> Vector {
        var result = a
        result.replace(with: b, where: b .> a)
        return result
    }

    /// `eˣ` lane-wise, within 2 ulp over the normal range.
    ///
    /// Range reduction `x = n·ln 2 + r`, `|r| ≤ ln 2 / 2`, with `ln 2` split in two parts (Cody and
    /// Waite; the split constants are the ones Cephes `expf` uses) so `r` is exact to ~2⁻³²; then the
    /// degree-7 Taylor polynomial of `eʳ` (truncation error < 6·10⁻⁹ relative on that interval) and
    /// `2ⁿ` built in the exponent bits, in two factors so `n = 128` and `n = −126` stay representable.
    /// Results below the smallest normal float flush to zero (so `exp(−∞) = 0`); `x > 88.72` gives `+∞`;
    /// NaN propagates.
    @inline(__always)
    static func exp(_ x: Vector) -> Vector {
        var clamped = x
        clamped.replace(with: 88.75, where: x .> 88.75)
        clamped.replace(with: -87.5, where: x .< -87.5)
        // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits.
        let magic: Float = 12_582_912
        let shifted = Vector(repeating: magic).addingProduct(clamped, Vector(repeating: 1.442_695_04))
        let n = shifted - magic
        var r = clamped.addingProduct(n, Vector(repeating: -0.693_359_375))
        r = r.addingProduct(n, Vector(repeating: 2.121_944_4e-4))
        var p = Vector(repeating: 1 / 5040)
        p = step(p, r, 1 / 720)
        p = step(p, r, 1 / 120)
        p = step(p, r, 1 / 24)
        p = step(p, r, 1 / 6)
        p = step(p, r, 0.5)
        p = step(p, r, 1)
        p = step(p, r, 1)
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let half = integer &>> 1
        let scale1 = unsafeBitCast((half &+ 127) &<< 23, to: Vector.self)
        let scale2 = unsafeBitCast((integer &- half &+ 127) &<< 23, to: Vector.self)
        var result = p * scale1 * scale2
        result.replace(with: 0, where: x .< -87.336_54)
        return result
    }

    /// One Horner step `p·r + c` as a fused multiply-add.
    @inline(__always)
    static func step(_ p: Vector, _ r: Vector, _ c: Float) -> Vector {
        Vector(repeating: c).addingProduct(p, r)
    }

    /// `σ(x) = 1 / (1 + e⁻ˣ)` lane-wise (exact limits 0 and 1 at ±∞).
    @inline(__always)
    static func sigmoid(_ x: Vector) -> Vector {
        1 / (1 + exp(-x))
    }

    /// Σ `p[0..<count]` with four vector accumulators (independent chains hide the add latency).
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        reduce(count: count) { load(p + $0) } tail: { load(p + $0, count: $1) }
    }

    /// Σ `a[i]·b[i]` over `0..<count`.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        reduce(count: count) { load(a + $0) * load(b + $0) } tail: { load(a + $0, count: $1) * load(b + $0, count: $1) }
    }

    /// Σ of `term(i)` over vectors `i = 0, 16, 32, …` and `tail(i, lanes)` for the last partial vector.
    @inline(__always)
    static func reduce(count: Int, _ term: (Int) -> Vector, tail: (Int, Int) -> Vector) -> Float {
        var a0 = Vector(), a1 = Vector(), a2 = Vector(), a3 = Vector()
        var i = 0
        while i + 4 * width <= count {
            a0 += term(i)
            a1 += term(i + width)
            a2 += term(i + 2 * width)
            a3 += term(i + 3 * width)
            i += 4 * width
        }
        while i + width <= count {
            a0 += term(i)
            i += width
        }
        if i < count { a1 += tail(i, count - i) }
        return ((a0 + a1) + (a2 + a3)).sum()
    }

    /// max `p[0..<count]` (−∞ for an empty range).
    @inline(__always)
    static func maximum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var m0 = Vector(repeating: -.infinity), m1 = m0
        var i = 0
        while i + 2 * width <= count {
            m0 = maximum(m0, load(p + i))
            m1 = maximum(m1, load(p + i + width))
            i += 2 * width
        }
        while i + width <= count {
            m0 = maximum(m0, load(p + i))
            i += width
        }
        if i < count { m1 = maximum(m1, load(p + i, count: count - i, padding: -.infinity)) }
        let m = maximum(m0, m1)
        var result = m[0]
        for lane in 1..<width where m[lane] > result { result = m[lane] }
        return result
    }

    /// Calls `body(offset, lanes)` for the vectors of `0..<count`: `lanes` is 16 except for a shorter
    /// last one. Pass `lanes` to the counted ``load(_:count:padding:)`` and ``store(_:_:count:)``: in the
    /// main loop it is the constant 16 and they compile to plain vector moves.
    @inline(__always)
    static func forEachVector(_ count: Int, _ body: (Int, Int) -> Void) {
        var i = 0
        while i + width <= count {
            body(i, width)
            i += width
        }
        if i < count { body(i, count - i) }
    }

    /// `y[i] = f(x[i])` over `0..<count`, the tail through the same vector code.
    @inline(__always)
    static func map(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, _ f: (Vector) -> Vector) {
        forEachVector(count) { i, lanes in store(f(load(x + i, count: lanes)), y + i, count: lanes) }
    }

    /// `y[i] = f(a[i], b[i])` over `0..<count`.
    @inline(__always)
    static func map(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int,
        _ f: (Vector, Vector) -> Vector
    ) {
        forEachVector(count) { i, lanes in
            store(f(load(a + i, count: lanes), load(b + i, count: lanes)), y + i, count: lanes)
        }
    }
}
