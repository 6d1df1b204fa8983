/// Decoding and encoding of ggml's k-quant super-blocks of 256 values (layouts from ggml-common.h).
///
/// `q4_k` (144 bytes): Float16 `d`, Float16 `dmin`, 12 bytes of eight 6-bit scales and eight 6-bit minimums, then
/// 128 bytes of nibbles. Sub-block `j` (32 values) reads `value = d · scale[j] · q − dmin · min[j]`; bytes
/// `32c ..< 32c + 32` hold sub-block `2c` in their low nibbles and `2c + 1` in their high nibbles. Scales and
/// minimums 0..<4 are the low 6 bits of bytes 0..<4 and 4..<8; 4..<8 take their low 4 bits from bytes 8..<12
/// (scale low nibble, minimum high nibble) and their top 2 bits from the top bits of bytes 0..<4 and 4..<8.
///
/// `q6_k` (210 bytes): 128 bytes `ql` (low 4 bits), 64 bytes `qh` (high 2 bits), 16 signed 8-bit scales, Float16
/// `d`; `value = d · scale[e / 16] · (q − 32)`. Each half of 128 values uses 64 bytes of `ql` and 32 of `qh`:
/// value `32k + l` of a half takes the low (k < 2) or high (k ≥ 2) nibble of `ql[l + 32 (k mod 2)]` and bits
/// `2k, 2k + 1` of `qh[l]`.
///
/// Decoding repeats gguf-py's arithmetic (Float32 products in the same order), so it matches bit for bit.
/// Encoding fits each sub-block by its range (minimum and maximum), not by ggml's iterative search: it is for
/// tests and fixtures, and its bytes differ from llama.cpp's quantizer.
enum KQuants {
    /// The 6-bit scale and minimum of `q4_k` sub-block `j` from the 12 packed bytes at `scales`.
    static func q4KScaleAndMinimum(_ j: Int, _ scales: UnsafeRawPointer) -> (scale: UInt8, minimum: UInt8) {
        func byte(_ i: Int) -> UInt8 { scales.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (byte(j) & 63, byte(j + 4) & 63) }
        return ((byte(j + 4) & 0xF) | ((byte(j - 4) >> 6) << 4), (byte(j + 4) >> 4) | ((byte(j) >> 6) << 4))
    }

    /// Decodes one `q4_k` block at `block` into 256 floats.
    static func decodeQ4K(_ block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
        let d = Float(block.loadUnaligned(as: Float16.self))
        let dmin = Float(block.loadUnaligned(fromByteOffset: 2, as: Float16.self))
        for j in 0..<8 {
            let (scale, minimum) = q4KScaleAndMinimum(j, block + 4)
            let d1 = d * Float(scale), m1 = dmin * Float(minimum)
            let q = block + 16 + 32 * (j / 2), shift = UInt8(4 * (j % 2))
            for l in 0..<32 { y[32 * j + l] = d1 * Float((q.load(fromByteOffset: l, as: UInt8.self) >> shift) & 0xF) - m1 }
        }
    }

    /// The byte of `ql` and the shift that hold the low 4 bits of `q6_k` value `e`, and the byte of `qh` and the shift
    /// of its high 2 bits (offsets from the block's start).
    static func q6KPlaces(_ e: Int) -> (low: Int, lowShift: Int, high: Int, highShift: Int) {
        let half = e / 128, l = e % 32, k = (e % 128) / 32
        return (64 * half + l + 32 * (k % 2), k >= 2 ? 4 : 0, 128 + 32 * half + l, 2 * k)
    }

    /// Decodes one `q6_k` block at `block` into 256 floats.
    static func decodeQ6K(_ block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
        let d = Float(block.loadUnaligned(fromByteOffset: 208, as: Float16.self))
        for e in 0..<256 {
            let place = q6KPlaces(e)
            let low = (block.load(fromByteOffset: place.low, as: UInt8.self) >> place.lowShift) & 0xF
            let high = (block.load(fromByteOffset: place.high, as: UInt8.self) >> place.highShift) & 3
            let scale = Float(block.load(fromByteOffset: 192 + e / 16, as: Int8.self))
            y[e] = d * scale * Float(Int(low | high << 4) - 32)
        }
    }

    /// Encodes 256 floats at `x` as one `q4_k` block: each sub-block spans its range (the minimum at most 0), the
    /// scales and minimums are quantized to 6 bits of the block's Float16 `d` and `dmin`, and each value rounds to
    /// the nearest of the 16 levels those define.
    static func encodeQ4K(_ x: UnsafePointer<Float>, into block: UnsafeMutableRawPointer) {
        var scales = [Float](repeating: 0, count: 8), minimums = [Float](repeating: 0, count: 8)
        for j in 0..<8 {
            var lo: Float = 0, hi = -Float.greatestFiniteMagnitude
            for l in 0..<32 { lo = min(lo, x[32 * j + l]); hi = max(hi, x[32 * j + l]) }
            scales[j] = (hi - lo) / 15
            minimums[j] = -lo
        }
        let d = Float(Float16(scales.max()! / 63)), dmin = Float(Float16(minimums.max()! / 63))
        let sc = scales.map { d > 0 ? UInt8(min(63, ($0 / d).rounded())) : 0 }
        let m = minimums.map { dmin > 0 ? UInt8(min(63, ($0 / dmin).rounded())) : 0 }
        block.storeBytes(of: Float16(d), as: Float16.self)
        block.storeBytes(of: Float16(dmin), toByteOffset: 2, as: Float16.self)
        for j in 0..<4 {
            block.storeBytes(of: sc[j] | (sc[j + 4] >> 4) << 6, toByteOffset: 4 + j, as: UInt8.self)
            block.storeBytes(of: m[j] | (m[j + 4] >> 4) << 6, toByteOffset: 8 + j, as: UInt8.self)
            block.storeBytes(of: (sc[j + 4] & 0xF) | (m[j + 4] & 0xF) << 4, toByteOffset: 12 + j, as: UInt8.self)
        }
        for c in 0..<4 {
            for l in 0..<32 {
                var pair: UInt8 = 0
                for half in 0..<2 {
                    let j = 2 * c + half
                    let step = d * Float(sc[j]), offset = dmin * Float(m[j])
                    let q = step > 0 ? min(15, max(0, ((x[32 * j + l] + offset) / step).rounded())) : 0
                    pair |= UInt8(q) << (4 * half)
                }
                block.storeBytes(of: pair, toByteOffset: 16 + 32 * c + l, as: UInt8.self)
            }
        }
    }

    /// Encodes 256 floats at `x` as one `q6_k` block: each sub-block of 16 maps its largest magnitude to −32, the
    /// sub-block scales are quantized to signed 8 bits of the block's Float16 `d`, and each value rounds to the
    /// nearest of the 64 levels.
    static func encodeQ6K(_ x: UnsafePointer<Float>, into block: UnsafeMutableRawPointer) {
        var scales = [Float](repeating: 0, count: 16)
        for s in 0..<16 {
            var largest: Float = 0
            for i in 0..<16 where abs(x[16 * s + i]) > abs(largest) { largest = x[16 * s + i] }
            scales[s] = largest / -32
        }
        let d = Float(Float16(scales.map(abs).max()! / 127))
        let sc = scales.map { d > 0 ? Int8(max(-128, min(127, ($0 / d).rounded()))) : 0 }
        block.storeBytes(of: Float16(d), toByteOffset: 208, as: Float16.self)
        for s in 0..<16 { block.storeBytes(of: sc[s], toByteOffset: 192 + s, as: Int8.self) }
        (block + 0).initializeMemory(as: UInt8.self, repeating: 0, count: 192)
        for e in 0..<256 {
            let step = d * Float(sc[e / 16])
            let q = step != 0 ? Int(max(-32, min(31, (x[e] / step).rounded()))) + 32 : 32
            let place = q6KPlaces(e)
            let low = block.load(fromByteOffset: place.low, as: UInt8.self) | UInt8(q & 0xF) << place.lowShift
            let high = block.load(fromByteOffset: place.high, as: UInt8.self) | UInt8(q >> 4) << place.highShift
            block.storeBytes(of: low, toByteOffset: place.low, as: UInt8.self)
            block.storeBytes(of: high, toByteOffset: place.high, as: UInt8.self)
        }
    }
}
