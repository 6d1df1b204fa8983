/// Formats the tensor cores (or CPU) multiply in; the keys of an accelerator's `peak_tflops`.
public enum ComputeFormat: String, CaseIterable, Codable, Sendable {
    case fp32, tf32, bf16, fp16, fp8, int8, fp4

    /// The format to fall back to when a chip lacks units for this one (A100 has no FP8: it upcasts to BF16).
    var wider: ComputeFormat? {
        switch self {
        case .fp4: return .fp8
        case .fp8, .int8: return .bf16
        case .bf16, .fp16: return .tf32
        case .tf32: return .fp32
        case .fp32: return nil
        }
    }
}

/// How weights are stored for serving (and, for the 16-bit formats, for training).
///
/// The block formats carry one FP16 scale per 32 weights, as llama.cpp's `q8_0` (34 bytes per 32 weights,
/// 8.5 bits) and `q4_0` (18 bytes per 32 weights, 4.5 bits) do (ggml-common.h).
public enum WeightFormat: String, CaseIterable, Codable, Sendable {
    case fp32, bf16, fp16, fp8, int8, int4

    /// Storage per weight in bits, per-block scales included.
    public var bitsPerWeight: Double {
        switch self {
        case .fp32: return 32
        case .bf16, .fp16: return 16
        case .fp8: return 8
        case .int8: return 8.5
        case .int4: return 4.5
        }
    }

    /// Storage per weight without scales (the figure quoted as "4-bit" or "8-bit").
    public var payloadBitsPerWeight: Double {
        switch self {
        case .int8: return 8
        case .int4: return 4
        default: return bitsPerWeight
        }
    }

    /// The format the matrix products run in: weight-only integer formats are dequantized to BF16 in the kernel
    /// (as in llama.cpp, vLLM's AWQ/GPTQ kernels); FP8 weights run on FP8 units.
    public var computeFormat: ComputeFormat {
        switch self {
        case .fp32: return .fp32
        case .bf16: return .bf16
        case .fp16: return .fp16
        case .fp8: return .fp8
        case .int8, .int4: return .bf16
        }
    }
}
