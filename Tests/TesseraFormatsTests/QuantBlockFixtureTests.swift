import Testing
import TesseraFormats
import TesseraTensor

/// Every weight type's block decoding against gguf-py's dequantize, bit for bit, through the three ways a GGUF
/// tensor is read: decoded to Float32, copied in its stored type, and borrowed in place as a ``QuantizedMatrix``
/// (Fixtures/quant_blocks.gguf, written by scripts/make_quant_fixtures.py).
@Suite struct QuantBlockFixtureTests {
    let file: GGUFFile

    init() throws {
        file = try GGUFFile(path: Locations.fixtures + "/quant_blocks.gguf")
    }

    @Test(arguments: DType.allCases)
    func decodingMatchesGGUFPyBitForBit(dtype: DType) throws {
        let name = dtype.storageName
        let expected = try file.tensor(named: name + ".dequantized")
        #expect(file.info(named: name)?.dtype == dtype)
        #expect(try file.tensor(named: name) == expected)
        #expect(try file.storedTensor(named: name).dequantized() == expected)
        let matrix = try file.matrix(named: name)
        #expect(matrix.shape == [2, 256] && matrix.dtype == dtype)
        #expect(matrix.dequantized() == expected)
    }

    /// Every type gguf-py encodes (all but the k-quants) is encoded to the same bytes; the F32 tensor holds the values.
    @Test(arguments: [DType.f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0])
    func encodingMatchesGGUFPyBitForBit(dtype: DType) throws {
        let values = try file.tensor(named: "F32")
        #expect(try QuantizedTensor(quantizing: values, as: dtype).bytes == file.storedTensor(named: dtype.storageName).bytes)
    }

    /// The comparison can fail: the same bytes read with the two nibbles of every byte swapped (or, for the
    /// float types, the two bytes of every 16-bit word) decode to other values.
    @Test(arguments: DType.allCases)
    func swappedNibblesAreCaught(dtype: DType) throws {
        let stored = try file.storedTensor(named: dtype.storageName)
        let swapped: [UInt8]
        switch dtype {
        case .f32, .f16, .bf16:
            swapped = stride(from: 0, to: stored.bytes.count, by: 2).flatMap { [stored.bytes[$0 + 1], stored.bytes[$0]] }
        default:
            swapped = stored.bytes.map { $0 << 4 | $0 >> 4 }
        }
        let wrong = try QuantizedTensor(dtype: dtype, shape: stored.shape, bytes: swapped).dequantized()
        #expect(wrong != (try file.tensor(named: dtype.storageName + ".dequantized")))
    }

    @Test func aTypeWithoutAKernelIsNamedWithTheSupportedTypes() throws {
        var g = GGUFBytes()
        g.tensors[1] = .init(name: "k", ne: [256, 1], type: 13, offset: 256)  // Q5_K: 176 bytes per 256
        g.dataSize = 256 + 176
        let directory = try TemporaryDirectory()
        let path = try directory.write(g.bytes, to: "q5k.gguf")
        let file = try GGUFFile(path: path)
        let reason = "element type Q5_K has no matrix kernel; Tessera multiplies F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K"
        #expect(throws: FormatError.unsupported(path: path, tensor: "k", reason: reason)) { try file.matrix(named: "k") }
        #expect(throws: FormatError.missingTensor(path: path, tensor: "absent")) { try file.matrix(named: "absent") }
    }

    @Test func aVectorIsNotAMatrix() throws {
        var g = GGUFBytes()
        g.tensors[1] = .init(name: "v", ne: [64], type: 0, offset: 256)
        g.dataSize = 256 + 256
        let directory = try TemporaryDirectory()
        let path = try directory.write(g.bytes, to: "vector.gguf")
        #expect(throws: FormatError.unsupported(path: path, tensor: "v", reason: "shape [64] is not a matrix [rows, columns]")) {
            try GGUFFile(path: path).matrix(named: "v")
        }
    }
}
