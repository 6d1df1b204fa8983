import CIntrinsics

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
        withUnsafeMutableBytes(of: &v) { $0.baseAddress!.copyMemory(from: p, byteCount: count * MemoryLayout<Float>.stride) }
        return v
    }

    /// Writes the first `count` (≤ 16) lanes of `v` to `p`.
    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, count: Int) {
        if count == width { return store(v, p) }
        withUnsafeBytes(of: v) { UnsafeMutableRawPointer(p).copyMemory(from: $0.baseAddress!, byteCount: count * MemoryLayout<Float>.stride) }
    }

    /// Lane-wise maximum (`pointwiseMax` is scalarized by the compiler; a masked replace is not).
    @inline(__always)
    static func maximum(_ a: Vector, _ b: Vector) -> Vector {
        var result = a
        result.replace(with: b, where: b .> a)
        return result
    }

    /// `eˣ` lane-wise for `x ≤ 88.72` (every argument of a shifted softmax, `x − max x ≤ 0`; above,
    /// the result is not defined), within 3 ulp over the normal range.
    ///
    /// Range reduction `x = n·ln 2 + r`, `|r| ≤ ln 2 / 2`, with `ln 2` split in two parts (Cody and
    /// Waite; the split constants are the ones Cephes `expf` uses) so `r` is exact to ~2⁻³². `eʳ` is
    /// `1 + r + r²·q(r)` with a cubic `q` fitted here for minimal relative error on that interval (error
    /// 1.1·10⁻⁷ with these float32 coefficients, 2.1·10⁻⁷ with float32 rounding), evaluated in Estrin's
    /// form to keep the dependency chain short. The polynomial yields `2eʳ` and the scale is `2ⁿ⁻¹`, built
    /// in the exponent bits, so `n = 128` (x up to 88.72) stays finite; `n = −126` (x < −86.99) flushes to
    /// zero, as does `x = −∞`; NaN propagates.
    @inline(__always)
    static func exp(_ x: Vector) -> Vector {
        var clamped = x
        clamped.replace(with: -87.5, where: x .< -87.5)
        // Adding 1.5·2²³ rounds to the nearest integer n and leaves 0x4B40_0000 + n in the bits.
        let magic: Float = 12_582_912
        let shifted = Vector(repeating: magic).addingProduct(clamped, Vector(repeating: 1.442_695_04))
        let n = shifted - magic
        var r = clamped.addingProduct(n, Vector(repeating: -0.693_359_375))
        r = r.addingProduct(n, Vector(repeating: 2.121_944_4e-4))
        let r2 = r * r
        let low = Vector(repeating: 2).addingProduct(r, Vector(repeating: 2))
        let cubic = Vector(repeating: 2 * 0.499_992_013).addingProduct(r, Vector(repeating: 2 * 0.166_671_336))
            .addingProduct(r2, Vector(repeating: 2 * 0.041_894_484).addingProduct(r, Vector(repeating: 2 * 0.008_312_036)))
        let twiceExpR = low.addingProduct(cubic, r2)
        let bits = unsafeBitCast(shifted, to: SIMD16<UInt32>.self)
        let scaleBits = (bits &<< 23) &+ ((126 &- 0x4B40_0000 as UInt32) &<< 23)
        return twiceExpR * unsafeBitCast(scaleBits, to: Vector.self)
    }

    /// `σ(x) = 1 / (1 + e⁻ˣ)` lane-wise (exact limits 0 and 1 at ±∞).
    @inline(__always)
    static func sigmoid(_ x: Vector) -> Vector {
        sigmoid(negated: x * -1)
    }

    /// `σ(x)` from `t = −x`: callers that compute `x` from a product fold the sign into a constant
    /// (a separate negation costs a dependent operation, since `0 − x` is not `−x` for `x = 0`).
    @inline(__always)
    static func sigmoid(negated t: Vector) -> Vector {
        // e^t saturates near 3.4·10³⁸ instead of overflowing; 1 / (1 + e^t) is 0 to float precision either way.
        var clamped = t
        clamped.replace(with: 88.7228, where: t .> 88.7228)
        return 1 / (1 + exp(clamped))
    }

    // Software prefetch. A core's own loads keep only as many cache misses in flight as its reorder
    // window holds loop iterations, so a loop that does much work per byte streams memory slower than a
    // lean one (the hardware prefetchers make up only part of that). Kernels of that kind ask for their
    // streams a fixed distance ahead. 384 floats (1.5 KiB, 24 cache lines per stream) measured best of
    // 384–3072 for LayerNorm backward (AMD EPYC, 1 and 2 threads); lean loops gain nothing and lose a
    // few percent to the extra instructions, so only kernels that measured faster use it.

    /// How far ahead of the vector being worked on, in elements, ``prefetch(_:)`` asks for data.
    static let prefetchDistance = 384

    /// Asks for the cache line at `p + prefetchDistance` to be loaded for reading. Never faults: the
    /// address may lie past the end of the buffer.
    @inline(__always)
    static func prefetch(_ p: UnsafePointer<Float>) {
        tessera_prefetch_read(p + prefetchDistance)
    }

    /// Asks for the cache line at `p + prefetchDistance` to be held for writing, so the store that
    /// follows need not first fetch it for ownership. Never faults.
    @inline(__always)
    static func prefetchForWriting(_ p: UnsafeMutablePointer<Float>) {
        tessera_prefetch_write(p + prefetchDistance)
    }

    /// Σ `p[0..<count]` with four vector accumulators (independent chains hide the add latency).
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        reduce(count: count, Elements(p: p))
    }

    /// Σ `a[i]·b[i]` over `0..<count`.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        reduce(count: count, Products(a: a, b: b))
    }

    /// Σ of `term(offset, lanes)` over the vectors of `0..<count`; the term must be zero in the lanes
    /// of a partial last vector beyond `lanes`.
    @inline(__always)
    static func reduce<Term: VectorTerm>(count: Int, _ term: Term) -> Float {
        var none = NoStep()
        return forEachVector(count, &none, summing: term)
    }

    /// The sums of two terms in one pass over `0..<count`, so inputs the terms share stream through the
    /// cache once. Each sum has one vector accumulator (``reduce(count:_:)`` has four), so its bits may
    /// differ from `reduce`'s in the last place.
    @inline(__always)
    static func reduce<First: VectorTerm, Second: VectorTerm>(count: Int, _ first: First, _ second: Second) -> (Float, Float) {
        var none = NoStep()
        return forEachVector(count, &none, summing: first, second)
    }

    /// max `p[0..<count]` (−∞ for an empty range).
    @inline(__always)
    static func maximum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var none = NoStep()
        return forEachVector(count, &none, maximumOf: p)
    }

    // Row pipelining. A row kernel's last pass over row r reads it from L1, while its first pass over
    // row r + 1 reads from memory. Run apart, the core alternates between waiting on loads with little
    // to compute and computing with the memory idle (the hardware prefetcher follows demand loads, so
    // it stalls too). The fused loops below run the two passes together: the next row's loads are in
    // flight while the current row computes and writes. Each sum keeps the lanes and order of the
    // unfused reduction, so a row's bits do not depend on whether its first pass was fused.

    /// Runs a two-pass row kernel over `rows` with each row's last pass fused with the next row's first.
    /// `firstPass(r)` is the term whose sum over `0..<count` row `r`'s last pass needs, and
    /// `lastPass(r, sum)` is that pass. Every sum is bit-identical to ``reduce(count:_:)`` of its term.
    @inline(__always)
    static func pipelineRows<Term: VectorTerm, Step: VectorStep>(
        _ rows: Range<Int>, count: Int, firstPass: (Int) -> Term, lastPass: (_ row: Int, _ sum: Float) -> Step
    ) {
        guard let first = rows.first else { return }
        var sum = reduce(count: count, firstPass(first))
        for r in rows {
            var step = lastPass(r, sum)
            if r + 1 < rows.upperBound {
                sum = forEachVector(count, &step, summing: firstPass(r + 1))
            } else {
                forEachVector(count, &step)
            }
        }
    }

    /// ``pipelineRows(_:count:firstPass:lastPass:)`` for a first pass of two sums (each bit-identical to
    /// ``reduce(count:_:_:)``).
    @inline(__always)
    static func pipelineRows<First: VectorTerm, Second: VectorTerm, Step: VectorStep>(
        _ rows: Range<Int>, count: Int, firstPass: (Int) -> (First, Second),
        lastPass: (_ row: Int, _ sums: (Float, Float)) -> Step
    ) {
        guard let first = rows.first else { return }
        let (firstTerm, secondTerm) = firstPass(first)
        var sums = reduce(count: count, firstTerm, secondTerm)
        for r in rows {
            var step = lastPass(r, sums)
            if r + 1 < rows.upperBound {
                let (nextFirst, nextSecond) = firstPass(r + 1)
                sums = forEachVector(count, &step, summing: nextFirst, nextSecond)
            } else {
                forEachVector(count, &step)
            }
        }
    }

    /// Runs `step` over the vectors of `0..<count` (as ``forEachVector(_:_:)``) and returns, from the
    /// same loop, ``reduce(count:_:)`` of `term` (bit-identical). The term is evaluated before the step at
    /// the same offset, so the loads of a next row are issued first.
    @inline(__always)
    static func forEachVector<Step: VectorStep, Term: VectorTerm>(
        _ count: Int, _ step: inout Step, summing term: Term
    ) -> Float {
        var a0 = Vector(), a1 = Vector(), a2 = Vector(), a3 = Vector()
        // Wrapping index arithmetic (offsets stay below `count`): an overflow check ends each iteration
        // with a branch, and the compiler then sinks the sums past the step and spills them.
        var i = 0
        while i &+ 4 &* width <= count {
            a0 += term(i, lanes: width)
            step(i, lanes: width)
            a1 += term(i &+ width, lanes: width)
            step(i &+ width, lanes: width)
            a2 += term(i &+ 2 &* width, lanes: width)
            step(i &+ 2 &* width, lanes: width)
            a3 += term(i &+ 3 &* width, lanes: width)
            step(i &+ 3 &* width, lanes: width)
            i &+= 4 &* width
        }
        while i &+ width <= count {
            a0 += term(i, lanes: width)
            step(i, lanes: width)
            i &+= width
        }
        if i < count {
            a1 += term(i, lanes: count - i)
            step(i, lanes: count - i)
        }
        return ((a0 + a1) + (a2 + a3)).sum()
    }

    /// Runs `step` over the vectors of `0..<count` and returns, from the same loop, the two sums of
    /// ``reduce(count:_:_:)`` (bit-identical). Each term is evaluated before the step at the same offset, so
    /// the loads of a next row are issued first.
    @inline(__always)
    static func forEachVector<Step: VectorStep, First: VectorTerm, Second: VectorTerm>(
        _ count: Int, _ step: inout Step, summing first: First, _ second: Second
    ) -> (Float, Float) {
        // One accumulator per sum: the step's work per vector outlasts the add latency, and more
        // accumulators beside a step's values spill to the stack.
        var a = Vector(), b = Vector()
        var i = 0
        while i &+ width <= count {
            a += first(i, lanes: width)
            b += second(i, lanes: width)
            step(i, lanes: width)
            i &+= width
        }
        if i < count {
            a += first(i, lanes: count - i)
            b += second(i, lanes: count - i)
            step(i, lanes: count - i)
        }
        return (a.sum(), b.sum())
    }

    /// Runs `step` over the vectors of `0..<count` and returns, from the same loop, max `p[0..<count]`
    /// (−∞ for an empty range).
    @inline(__always)
    static func forEachVector<Step: VectorStep>(_ count: Int, _ step: inout Step, maximumOf p: UnsafePointer<Float>) -> Float {
        var m0 = Vector(repeating: -.infinity), m1 = m0
        var i = 0
        while i &+ 2 &* width <= count {
            m0 = maximum(m0, load(p + i))
            step(i, lanes: width)
            m1 = maximum(m1, load(p + (i &+ width)))
            step(i &+ width, lanes: width)
            i &+= 2 &* width
        }
        while i &+ width <= count {
            m0 = maximum(m0, load(p + i))
            step(i, lanes: width)
            i &+= width
        }
        if i < count {
            m1 = maximum(m1, load(p + i, count: count - i, padding: -.infinity))
            step(i, lanes: count - i)
        }
        return maximum(of: maximum(m0, m1))
    }

    /// The largest lane of `v`, by halving (a lane-by-lane scan compiles to a chain of compares and
    /// branches that costs a short row as much as its loads).
    @inline(__always)
    static func maximum(of v: Vector) -> Float {
        @inline(__always) func larger<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar == Float {
            var result = a
            result.replace(with: b, where: b .> a)
            return result
        }
        let eight = larger(v.lowHalf, v.highHalf), four = larger(eight.lowHalf, eight.highHalf)
        let two = larger(four.lowHalf, four.highHalf)
        return two[1] > two[0] ? two[1] : two[0]
    }

    /// Runs `step(offset, lanes)` over the vectors of `0..<count`: `lanes` is 16 except for a shorter
    /// last one. Steps pass `lanes` to the counted ``load(_:count:padding:)`` and ``store(_:_:count:)``.
    /// The main loop and the tail are separate call sites: in the loop `lanes` is the constant 16 and the
    /// counted moves compile to plain vector moves (one call site with a variable `lanes` would merge the
    /// two paths and the compiler then splits the math into lanes).
    @inline(__always)
    static func forEachVector<Step: VectorStep>(_ count: Int, _ step: inout Step) {
        var i = 0
        while i + width <= count {
            step(i, lanes: width)
            i += width
        }
        if i < count { step(i, lanes: count - i) }
    }

    /// `y[i] = f(x[i])` over `0..<count`; `y` may alias `x`.
    @inline(__always)
    static func map<F: VectorFunction>(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, _ f: F) {
        var i = 0
        while i + width <= count {
            store(f(load(x + i)), y + i)
            i += width
        }
        if i < count { store(f(load(x + i, count: count - i)), y + i, count: count - i) }
    }

    /// `y[i] = f(a[i], b[i])` over `0..<count`; `y` may alias `a` or `b`.
    @inline(__always)
    static func map<F: VectorFunction2>(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, _ f: F
    ) {
        var i = 0
        while i + width <= count {
            store(f(load(a + i), load(b + i)), y + i)
            i += width
        }
        if i < count {
            let lanes = count - i
            store(f(load(a + i, count: lanes), load(b + i, count: lanes)), y + i, count: lanes)
        }
    }
}

// Loop bodies are small generic values rather than closures: a closure passed on through another
// closure stays an indirect call per vector (and the compiler merges the loops of different kernels
// into one that calls through a pointer), while a generic body is specialized and inlined.

/// A function of one vector.
protocol VectorFunction {
    func callAsFunction(_ x: Vector) -> Vector
}

/// A function of two vectors.
protocol VectorFunction2 {
    func callAsFunction(_ a: Vector, _ b: Vector) -> Vector
}

/// The vector at `offset` of a sum (zero beyond `lanes`).
protocol VectorTerm {
    func callAsFunction(_ offset: Int, lanes: Int) -> Vector
}

/// The work on the vector at `offset`.
protocol VectorStep {
    mutating func callAsFunction(_ offset: Int, lanes: Int)
}

/// No work: the plain reductions are the fused loops with nothing to run beside them.
struct NoStep: VectorStep {
    @inline(__always) mutating func callAsFunction(_ offset: Int, lanes: Int) {}
}

/// The elements themselves.
struct Elements: VectorTerm {
    let p: UnsafePointer<Float>
    @inline(__always) func callAsFunction(_ offset: Int, lanes: Int) -> Vector { VectorMath.load(p + offset, count: lanes) }
}

/// Element-wise products.
struct Products: VectorTerm {
    let a: UnsafePointer<Float>, b: UnsafePointer<Float>
    @inline(__always) func callAsFunction(_ offset: Int, lanes: Int) -> Vector {
        VectorMath.load(a + offset, count: lanes) * VectorMath.load(b + offset, count: lanes)
    }
}

/// `a + b`.
struct Sum: VectorFunction2 {
    @inline(__always) func callAsFunction(_ a: Vector, _ b: Vector) -> Vector { a + b }
}

/// `a + alpha·b`.
struct ScaledSum: VectorFunction2 {
    let alpha: Float
    @inline(__always) func callAsFunction(_ a: Vector, _ b: Vector) -> Vector { a.addingProduct(Vector(repeating: alpha), b) }
}

/// `alpha·x`.
struct Scaled: VectorFunction {
    let alpha: Float
    @inline(__always) func callAsFunction(_ x: Vector) -> Vector { x * alpha }
}
