import TesseraTensor

/// The element types the safetensors format defines, under the names its header uses.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL"
    case u8 = "U8", i8 = "I8", u16 = "U16", i16 = "I16", u32 = "U32", i32 = "I32", u64 = "U64", i64 = "I64"
    case f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
    case f16 = "F16", bf16 = "BF16", f32 = "F32", f64 = "F64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
        case .u16, .i16, .f16, .bf16: return 2
        case .u32, .i32, .f32: return 4
        case .u64, .i64, .f64: return 8
        }
    }

    /// The safetensors type that stores a TesseraTensor ``DType`` (only the plain float formats have one).
    public init?(_ dtype: DType) {
        switch dtype {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        case .q8_0, .q4_0, .q4_1, .q5_0, .q4_k, .q6_k: return nil
        }
    }

    var elementFormat: ElementFormat {
        switch self {
        case .f32: return .dtype(.f32)
        case .f16: return .dtype(.f16)
        case .bf16: return .dtype(.bf16)
        case .f64: return .float64
        case .bool: return .bool
        case .u8, .u16, .u32, .u64: return .integer(bytes: byteSize, signed: false)
        case .i8, .i16, .i32, .i64: return .integer(bytes: byteSize, signed: true)
        case .f8e5m2, .f8e4m3: return .opaque(name: rawValue, blockSize: 1, bytesPerBlock: 1)
        }
    }
}
