import TesseraTensor

/// A ggml tensor type: its GGUF code, name and block layout.
///
/// Sizes are ggml's `type_traits` (ggml.c), the same table as gguf-py's `GGML_QUANT_SIZES`; the reader needs the
/// size of every type to validate offsets, even of types it does not decode.
struct GGMLType: Sendable, Equatable {
    let code: UInt32
    let name: String
    let blockSize: Int
    let bytesPerBlock: Int

    var format: ElementFormat {
        switch name {
        case "F32": return .dtype(.f32)
        case "F16": return .dtype(.f16)
        case "BF16": return .dtype(.bf16)
        case "Q8_0": return .dtype(.q8_0)
        case "Q4_0": return .dtype(.q4_0)
        case "Q4_1": return .dtype(.q4_1)
        case "Q5_0": return .dtype(.q5_0)
        case "Q4_K": return .dtype(.q4_k)
        case "Q6_K": return .dtype(.q6_k)
        case "F64": return .float64
        case "I8", "I16", "I32", "I64": return .integer(bytes: bytesPerBlock, signed: true)
        default: return .opaque(name: name, blockSize: blockSize, bytesPerBlock: bytesPerBlock)
        }
    }

    static func code(for dtype: DType) -> UInt32 {
        switch dtype {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 8
        case .bf16: return 30
        case .q5_0: return 6
        case .q4_k: return 12
        case .q6_k: return 14
        }
    }

    static let known: [UInt32: GGMLType] = {
        let table: [(UInt32, String, Int, Int)] = [
            (0, "F32", 1, 4), (1, "F16", 1, 2), (2, "Q4_0", 32, 18), (3, "Q4_1", 32, 20),
            (6, "Q5_0", 32, 22), (7, "Q5_1", 32, 24), (8, "Q8_0", 32, 34), (9, "Q8_1", 32, 40),
            (10, "Q2_K", 256, 84), (11, "Q3_K", 256, 110), (12, "Q4_K", 256, 144), (13, "Q5_K", 256, 176),
            (14, "Q6_K", 256, 210), (15, "Q8_K", 256, 292), (16, "IQ2_XXS", 256, 66), (17, "IQ2_XS", 256, 74),
            (18, "IQ3_XXS", 256, 98), (19, "IQ1_S", 256, 50), (20, "IQ4_NL", 32, 18), (21, "IQ3_S", 256, 110),
            (22, "IQ2_S", 256, 82), (23, "IQ4_XS", 256, 136), (24, "I8", 1, 1), (25, "I16", 1, 2),
            (26, "I32", 1, 4), (27, "I64", 1, 8), (28, "F64", 1, 8), (29, "IQ1_M", 256, 56), (30, "BF16", 1, 2),
            (34, "TQ1_0", 256, 54), (35, "TQ2_0", 256, 66), (39, "MXFP4", 32, 17),
        ]
        return Dictionary(uniqueKeysWithValues: table.map { ($0.0, GGMLType(code: $0.0, name: $0.1, blockSize: $0.2, bytesPerBlock: $0.3)) })
    }()
}
