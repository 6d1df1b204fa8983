import Testing
import TesseraFormats
import TesseraTensor

/// TesseraTensor's ggml block codecs against gguf-py's numpy port of ggml's reference quantizers
/// (Fixtures/quantization_reference.safetensors, written by scripts/make_tokenizer_fixtures.py).
@Suite struct QuantizationReferenceTests {
    let reference: SafeTensorsFile

    init() throws {
        reference = try SafeTensorsFile(path: Locations.fixtures + "/quantization_reference.safetensors")
    }

    @Test(arguments: [DType.q8_0, .q4_0, .q4_1])
    func encodingAndDecodingMatchGGUFPyBitForBit(dtype: DType) throws {
        let x = try reference.tensor(named: "x")
        let bytes = try reference.tensor(named: dtype.rawValue).scalars.map { UInt8($0) }
        let ours = try QuantizedTensor(quantizing: x, as: dtype)
        #expect(ours.bytes == bytes)
        let decoded = try reference.tensor(named: dtype.rawValue + ".dequantized").reshaped(to: x.shape)
        #expect(ours.dequantized() == decoded)
        // The check can fail: one flipped nibble or quant changes the decoded values.
        var flipped = bytes
        flipped[bytes.count - 1] ^= 0x11
        #expect(try QuantizedTensor(dtype: dtype, shape: x.shape, bytes: flipped).dequantized() != ours.dequantized())
    }
}
