/// ggml's `q5_0` blocks of 32 values (22 bytes): Float16 `d`, a little-endian 32-bit word `qh` whose bit `j` is the
/// fifth bit of element `j`, and 16 bytes whose byte `j` holds the low 4 bits of element `j` (low nibble) and of
/// element `j + 16` (high nibble); value = `(q − 16) · d` with `q` in 0..<32.
enum FiveBitBlocks {
    /// Decodes one block at `block` into 32 floats, as gguf-py does (one Float32 product per value).
    static func decode(_ block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
        let d = Float(block.loadUnaligned(as: Float16.self))
        let high = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        for j in 0..<16 {
            let q = block.load(fromByteOffset: 6 + j, as: UInt8.self)
            let low = Int(q & 0xF) | Int((high >> j) & 1) << 4, upper = Int(q >> 4) | Int((high >> (j + 16)) & 1) << 4
            y[j] = Float(low - 16) * d
            y[j + 16] = Float(upper - 16) * d
        }
    }

    /// Encodes 32 floats at `x` with ggml's reference rounding (`quantize_row_q5_0_ref`): the value of largest
    /// magnitude maps to −16, the others round half up and clamp to 31.
    static func encode(_ x: UnsafePointer<Float>, into block: UnsafeMutableRawPointer) {
        var amax: Float = 0, signedMax: Float = 0
        for j in 0..<32 where abs(x[j]) > amax { amax = abs(x[j]); signedMax = x[j] }
        let d = signedMax / -16
        let id: Float = d != 0 ? 1 / d : 0
        block.storeBytes(of: Float16(d), as: Float16.self)
        var high: UInt32 = 0
        for j in 0..<16 {
            let low = UInt8(min(31, Int8(truncatingIfNeeded: Int(x[j] * id + 16.5))))
            let upper = UInt8(min(31, Int8(truncatingIfNeeded: Int(x[j + 16] * id + 16.5))))
            block.storeBytes(of: (low & 0xF) | (upper & 0xF) << 4, toByteOffset: 6 + j, as: UInt8.self)
            high |= UInt32(low >> 4) << j | UInt32(upper >> 4) << (j + 16)
        }
        block.storeBytes(of: high.littleEndian, toByteOffset: 2, as: UInt32.self)
    }
}
