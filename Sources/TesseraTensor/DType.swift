/// Element formats Tensera stores. Computation is always Float32; the others are storage formats
/// (checkpoints, quantized weights) that dequantize to Float32.
///
/// The block formats follow llama.cpp's `ggml` definitions (ggml-common.h): each block holds 32 values.
/// - `q8_0`: Float16 scale `d`, then 32 signed bytes `q`; value = `q * d` (34 bytes per block).
/// - `q4_0`: Float16 scale `d`, then 16 bytes of nibbles; value = `(nibble - 8) * d` (18 bytes per block).
/// - `q4_1`: Float16 scale `d`, Float16 minimum `m`, then 16 bytes of nibbles; value = `nibble * d + m` (20 bytes).
/// - `q5_0`: Float16 scale `d`, 4 bytes `qh` of fifth bits (bit `j` for element `j`), then 16 bytes of nibbles;
///   value = `(nibble | fifth bit << 4 - 16) * d` (22 bytes). llama.cpp stores it where a row is not whole
///   256-blocks of a k-quant (a Q4_K_M file of a model 576 wide holds mostly `q5_0`).
/// In the 4- and 5-bit formats byte `j` holds element `j` in its low nibble and element `j + 16` in its high nibble.
///
/// The k-quants hold 256 values per block in sub-blocks with their own 6- or 8-bit scales (layouts in Quantized/KQuants.swift):
/// - `q4_k`: 4-bit values, eight sub-blocks of 32 with 6-bit scales and minimums (144 bytes per block).
/// - `q6_k`: 6-bit values, sixteen sub-blocks of 16 with 8-bit signed scales (210 bytes per block).
public enum DType: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q4_k, q6_k

    /// Elements per block (1 for the plain formats).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q8_0, .q4_0, .q4_1, .q5_0: return 32
        case .q4_k, .q6_k: return 256
        }
    }

    /// Bytes per block.
    public var bytesPerBlock: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q8_0: return 34
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q4_k: return 144
        case .q6_k: return 210
        }
    }

    public var description: String { rawValue }

    /// The name ggml, GGUF and gguf-py use ("F32", "Q4_K").
    public var storageName: String { rawValue.uppercased() }

    /// Every type's ``storageName``, comma-separated: what Tessera decodes and multiplies, for error messages.
    public static var storageNames: String { allCases.map(\.storageName).joined(separator: ", ") }

    /// Bytes needed to store `count` elements.
    /// - Throws: ``TensorError/invalidShape(operation:shape:reason:)`` when `count` is not a multiple of the block size.
    public func byteCount(forElements count: Int) throws -> Int {
        guard count >= 0, count % blockSize == 0 else {
            throw TensorError.invalidShape(
                operation: "DType.byteCount", shape: [count],
                reason: "\(count) elements do not fill whole \(self) blocks of \(blockSize)")
        }
        return count / blockSize * bytesPerBlock
    }
}

/// Storage of any ``DType`` with a shape; raw bytes laid out as the dtype defines.
public struct QuantizedTensor: Sendable, Equatable {
    public let dtype: DType
    public let shape: [Int]
    public let bytes: [UInt8]

    /// - Throws: ``TensorError`` when the byte count does not match `shape` in `dtype`.
    public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws {
        let count = try Tensor.elementCount(of: shape, operation: "QuantizedTensor")
        let expected = try dtype.byteCount(forElements: count)
        guard bytes.count == expected else {
            throw TensorError.countMismatch(operation: "QuantizedTensor(\(dtype))", expected: expected, actual: bytes.count)
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Encodes a Float32 tensor (rounding to nearest as ggml does).
    public init(quantizing tensor: Tensor, as dtype: DType) throws {
        let byteCount = try dtype.byteCount(forElements: tensor.count)
        var bytes = [UInt8](repeating: 0, count: byteCount)
        tensor.withUnsafeBufferPointer { source in
            bytes.withUnsafeMutableBytes { Quantization.encode(source, as: dtype, into: $0) }
        }
        try self.init(dtype: dtype, shape: tensor.shape, bytes: bytes)
    }

    /// The values as Float32.
    public func dequantized() -> Tensor {
        var result = Tensor(shape: shape)
        let count = result.count
        result.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBytes { Quantization.decode($0, as: dtype, count: count, into: out.baseAddress!) }
        }
        return result
    }
}

/// Pointer-level encoding and decoding of the ``DType`` formats. Callers guarantee buffer sizes
/// (use ``DType/byteCount(forElements:)``); the throwing checks live in ``QuantizedTensor``.
public enum Quantization {
    /// Decodes `count` elements of `dtype` from `raw` (which may be unaligned, e.g. a memory-mapped file).
    public static func decode(_ raw: UnsafeRawBufferPointer, as dtype: DType, count: Int, into out: UnsafeMutablePointer<Float>) {
        guard count > 0, let base = raw.baseAddress else { return }
        switch dtype {
        case .f32:
            for i in 0..<count { out[i] = base.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<count { out[i] = Float(base.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self)) }
        case .bf16:
            for i in 0..<count {
                let bits = UInt32(base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
                out[i] = Float(bitPattern: bits)
            }
        case .q8_0:
            for block in 0..<count / 32 {
                let b = base + block * 34
                let d = Float(b.loadUnaligned(as: Float16.self))
                let y = out + block * 32
                for j in 0..<32 { y[j] = Float(Int8(bitPattern: b.load(fromByteOffset: 2 + j, as: UInt8.self))) * d }
            }
        case .q4_0:
            for block in 0..<count / 32 {
                let b = base + block * 18
                let d = Float(b.loadUnaligned(as: Float16.self))
                let y = out + block * 32
                for j in 0..<16 {
                    let q = b.load(fromByteOffset: 2 + j, as: UInt8.self)
                    y[j] = Float(Int(q & 0x0F) - 8) * d
                    y[j + 16] = Float(Int(q >> 4) - 8) * d
                }
            }
        case .q4_1:
            for block in 0..<count / 32 {
                let b = base + block * 20
                let d = Float(b.loadUnaligned(as: Float16.self))
                let m = Float(b.loadUnaligned(fromByteOffset: 2, as: Float16.self))
                let y = out + block * 32
                for j in 0..<16 {
                    let q = b.load(fromByteOffset: 4 + j, as: UInt8.self)
                    y[j] = Float(q & 0x0F) * d + m
                    y[j + 16] = Float(q >> 4) * d + m
                }
            }
        case .q5_0, .q4_k, .q6_k:
            let decodeBlock = blockDecoder(dtype)
            for block in 0..<count / dtype.blockSize {
                decodeBlock(base + block * dtype.bytesPerBlock, out + block * dtype.blockSize)
            }
        }
    }

    /// Encodes `source` as `dtype` into `raw`, with ggml's reference rounding (`quantize_row_*_ref`) for the 32-element
    /// blocks; the k-quants use a simpler fit than ggml's search (see ``KQuants``), so their bytes differ from
    /// llama.cpp's quantizer while decoding the same way.
    public static func encode(_ source: UnsafeBufferPointer<Float>, as dtype: DType, into raw: UnsafeMutableRawBufferPointer) {
        guard let base = raw.baseAddress, let x = source.baseAddress else { return }
        let count = source.count
        switch dtype {
        case .f32:
            for i in 0..<count { base.storeBytes(of: x[i], toByteOffset: 4 * i, as: Float.self) }
        case .f16:
            // Through a typed pointer the loop vectorizes (16 conversions an instruction with F16C, each rounded as
            // the scalar one is); byte-wise stores kept it scalar, a key/value cache row at a time.
            let y = base.bindMemory(to: Float16.self, capacity: count)
            for i in 0..<count { y[i] = Float16(x[i]) }
        case .bf16:
            for i in 0..<count { base.storeBytes(of: bfloat16Bits(x[i]), toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0:
            for block in 0..<count / 32 {
                let v = x + block * 32
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, abs(v[j])) }
                let d = amax / 127
                let id: Float = d != 0 ? 1 / d : 0
                let b = base + block * 34
                b.storeBytes(of: Float16(d), as: Float16.self)
                for j in 0..<32 {
                    b.storeBytes(of: UInt8(bitPattern: Int8((v[j] * id).rounded())), toByteOffset: 2 + j, as: UInt8.self)
                }
            }
        case .q4_0:
            for block in 0..<count / 32 {
                let v = x + block * 32
                var amax: Float = 0, signedMax: Float = 0
                for j in 0..<32 where abs(v[j]) > amax { amax = abs(v[j]); signedMax = v[j] }
                let d = signedMax / -8
                let id: Float = d != 0 ? 1 / d : 0
                let b = base + block * 18
                b.storeBytes(of: Float16(d), as: Float16.self)
                for j in 0..<16 {
                    let lo = UInt8(min(15, Int8(truncatingIfNeeded: Int(v[j] * id + 8.5))))
                    let hi = UInt8(min(15, Int8(truncatingIfNeeded: Int(v[j + 16] * id + 8.5))))
                    b.storeBytes(of: lo | (hi << 4), toByteOffset: 2 + j, as: UInt8.self)
                }
            }
        case .q4_1:
            for block in 0..<count / 32 {
                let v = x + block * 32
                var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
                for j in 0..<32 { lo = min(lo, v[j]); hi = max(hi, v[j]) }
                let d = (hi - lo) / 15
                let id: Float = d != 0 ? 1 / d : 0
                let b = base + block * 20
                b.storeBytes(of: Float16(d), as: Float16.self)
                b.storeBytes(of: Float16(lo), toByteOffset: 2, as: Float16.self)
                for j in 0..<16 {
                    let q0 = UInt8(min(15, Int8(truncatingIfNeeded: Int((v[j] - lo) * id + 0.5))))
                    let q1 = UInt8(min(15, Int8(truncatingIfNeeded: Int((v[j + 16] - lo) * id + 0.5))))
                    b.storeBytes(of: q0 | (q1 << 4), toByteOffset: 4 + j, as: UInt8.self)
                }
            }
        case .q5_0, .q4_k, .q6_k:
            let encodeBlock = blockEncoder(dtype)
            for block in 0..<count / dtype.blockSize {
                encodeBlock(x + block * dtype.blockSize, base + block * dtype.bytesPerBlock)
            }
        }
    }

    /// The block decoder of a type whose codec lives in its own file (`Quantized/`).
    private static func blockDecoder(_ dtype: DType) -> (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void {
        switch dtype {
        case .q5_0: return FiveBitBlocks.decode
        case .q4_k: return KQuants.decodeQ4K
        case .q6_k: return KQuants.decodeQ6K
        default: preconditionFailure("\(dtype) is decoded in Quantization.decode itself")
        }
    }

    /// The block encoder of a type whose codec lives in its own file (`Quantized/`).
    private static func blockEncoder(_ dtype: DType) -> (UnsafePointer<Float>, UnsafeMutableRawPointer) -> Void {
        switch dtype {
        case .q5_0: return FiveBitBlocks.encode
        case .q4_k: return KQuants.encodeQ4K
        case .q6_k: return KQuants.encodeQ6K
        default: preconditionFailure("\(dtype) is encoded in Quantization.encode itself")
        }
    }

    /// Float32 → bfloat16 with round-to-nearest-even (NaN stays NaN), as PyTorch converts.
    public static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
