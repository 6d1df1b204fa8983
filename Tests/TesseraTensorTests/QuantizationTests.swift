import Testing
import TesseraTensor

@Suite struct QuantizationTests {
    static func sample(_ count: Int) -> Tensor {
        let rng = DeterministicRandom(seed: 3, stream: "quant")
        return try! Tensor(shape: [count], scalars: (0..<count).map { rng.normal(at: $0) })
    }

    @Test(arguments: [DType.f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q4_k, .q6_k])
    func roundTripErrorIsBoundedByTheFormat(dtype: DType) throws {
        let x = Self.sample(256)
        let y = try QuantizedTensor(quantizing: x, as: dtype).dequantized()
        let bound: Float = switch dtype {
        case .f16: 2e-3
        case .bf16: 1.6e-2
        case .q8_0: 3e-2
        case .q4_0, .q4_1, .q4_k: 0.5
        case .q6_k: 0.1
        case .q5_0: 0.25
        case .f32: 0
        }
        for i in 0..<x.count { #expect(abs(x[flat: i] - y[flat: i]) <= bound * max(1, abs(x[flat: i]))) }
    }

    @Test func q4_0MatchesTheBlockDefinitionByHand() throws {
        // d = 0.5 (f16 0x3800), nibble bytes: low = element j, high = element j + 16.
        var bytes: [UInt8] = [0x00, 0x38]
        bytes += (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        let y = try QuantizedTensor(dtype: .q4_0, shape: [32], bytes: bytes).dequantized()
        for j in 0..<16 {
            #expect(y[flat: j] == Float(j - 8) * 0.5)
            #expect(y[flat: j + 16] == Float(15 - j - 8) * 0.5)
        }
    }

    @Test func wrongByteCountThrows() {
        #expect(throws: TensorError.countMismatch(operation: "QuantizedTensor(q8_0)", expected: 34, actual: 33)) {
            try QuantizedTensor(dtype: .q8_0, shape: [32], bytes: [UInt8](repeating: 0, count: 33))
        }
        #expect(throws: TensorError.self) { try QuantizedTensor(dtype: .q4_1, shape: [31], bytes: []) }
    }
}
