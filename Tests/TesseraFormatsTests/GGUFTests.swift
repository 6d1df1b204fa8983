import Foundation
import Testing
import TesseraFormats
import TesseraTensor

@Suite struct GGUFTests {
    static let allTypes: GGUFMetadata = {
        var m = GGUFMetadata()
        m["general.architecture"] = .string("llama")
        m["u8"] = .uint8(200)
        m["i8"] = .int8(-5)
        m["u16"] = .uint16(60000)
        m["i16"] = .int16(-300)
        m["u32"] = .uint32(4_000_000_000)
        m["i32"] = .int32(-7)
        m["u64"] = .uint64(.max)
        m["i64"] = .int64(.min)
        m["f32"] = .float32(1.5)
        m["f64"] = .float64(-2.25)
        m["flag"] = .bool(true)
        m["text"] = .string("héllo 日本 😀")
        m["tokens"] = .array(elementType: .string, values: [.string("a"), .string(""), .string("Ġb")])
        m["ids"] = .array(elementType: .int32, values: [.int32(1), .int32(-2)])
        m["empty"] = .array(elementType: .float32, values: [])
        m["nested"] = .array(elementType: .array, values: [.array(elementType: .uint8, values: [.uint8(1)])])
        return m
    }()

    @Test(arguments: [32, 64])
    func roundTripsMetadataAndTensorsInEveryWrittenType(alignment: Int) throws {
        let dir = try TemporaryDirectory()
        var writer = GGUFWriter(alignment: alignment)
        writer.metadata = Self.allTypes
        let types: [DType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1]
        var expected: [String: Tensor] = [:]
        for (i, dtype) in types.enumerated() {
            let t = sampleTensor([3, 64], "t\(i)")
            try writer.add(t, named: "w.\(dtype)", as: dtype)
            expected["w.\(dtype)"] = try QuantizedTensor(quantizing: t, as: dtype).dequantized()
        }
        try writer.add(sampleTensor([5], "bias"), named: "bias")
        try writer.add(sampleTensor([2, 3, 4], "cube"), named: "cube")
        try writer.write(to: dir.file("m.gguf"))

        let file = try GGUFFile(path: dir.file("m.gguf"))
        #expect(file.version == 3 && file.alignment == alignment)
        var metadata = Self.allTypes
        if alignment != 32 { metadata["general.alignment"] = .uint32(UInt32(alignment)) }
        #expect(file.metadata == metadata)
        #expect(file.metadata.keys == metadata.keys)
        #expect(file.architecture == "llama")
        #expect(file.metadata["tokens"]?.strings == ["a", "", "Ġb"])
        #expect(file.metadata["ids"]?.ints == [1, -2])
        #expect(file.tensorNames == types.map { "w.\($0)" } + ["bias", "cube"])
        for (name, value) in expected {
            #expect(try file.tensor(named: name) == value, "\(name)")
            #expect((file.info(named: name)?.byteRange.lowerBound ?? 1) % alignment == 0)
        }
        #expect(try file.tensor(named: "bias") == sampleTensor([5], "bias"))
        #expect(try file.tensor(named: "cube") == sampleTensor([2, 3, 4], "cube"))
        #expect(file.info(named: "w.q4_1")?.storageType == "Q4_1")
        #expect(try file.storedTensor(named: "w.q8_0") == QuantizedTensor(quantizing: sampleTensor([3, 64], "t3"), as: .q8_0))
    }

    @Test func storedQuantizedTensorsCopyThroughTheWriterUnchanged() throws {
        let dir = try TemporaryDirectory()
        let q = try QuantizedTensor(quantizing: sampleTensor([2, 32], "q"), as: .q4_1)
        var writer = GGUFWriter()
        try writer.add(q, named: "q")
        try writer.write(to: dir.file("a.gguf"))
        #expect(try GGUFFile(path: dir.file("a.gguf")).storedTensor(named: "q") == q)
    }

    @Test(arguments: [DType.f32, .q8_0, .q4_0, .q4_1])
    func rowAndBlockAlignedColumnReadsMatchTheWholeTensor(dtype: DType) throws {
        let dir = try TemporaryDirectory()
        var writer = GGUFWriter()
        try writer.add(sampleTensor([6, 96], "s"), named: "s", as: dtype)
        try writer.write(to: dir.file("s.gguf"))
        let file = try GGUFFile(path: dir.file("s.gguf"))
        let whole = try file.tensor(named: "s")
        #expect(try file.tensor(named: "s", rows: 2..<5) == naiveSlice(whole, 2..<5, alongDimension: 0))
        #expect(try file.tensor(named: "s", range: 32..<96, alongDimension: 1) == naiveSlice(whole, 32..<96, alongDimension: 1))
        if dtype.blockSize > 1 {
            #expect(throws: FormatError.self) { try file.tensor(named: "s", range: 16..<48, alongDimension: 1) }
        }
    }

    @Test func writerRefusesRowsOfPartialBlocksAndDuplicates() throws {
        var writer = GGUFWriter()
        #expect(throws: FormatError.self) { try writer.add(sampleTensor([2, 48], "x"), named: "x", as: .q8_0) }
        try writer.add(sampleTensor([2, 48], "x"), named: "x", as: .f16)
        #expect(throws: FormatError.self) { try writer.add(sampleTensor([2], "x"), named: "x") }
        #expect(throws: FormatError.self) { try writer.add(sampleTensor([1, 1, 1, 1, 2], "y"), named: "y") }
    }

    @Test func rotaryPermutationRoundTripsAndMovesRowsAsLlamaCppDoes() throws {
        // 2 heads of dimension 4: stored row 2j + i holds Hugging Face row i * 2 + j of the same head.
        let hf = try Tensor(shape: [8, 1], scalars: (0..<8).map(Float.init))
        let stored = try RotaryPermutation.permute(hf, heads: 2)
        #expect(stored.scalars == [0, 2, 1, 3, 4, 6, 5, 7])
        #expect(try RotaryPermutation.unpermute(stored, heads: 2) == hf)
        let weight = sampleTensor([24, 5], "rope")
        #expect(try RotaryPermutation.unpermute(RotaryPermutation.permute(weight, heads: 3), heads: 3) == weight)
        #expect(try RotaryPermutation.permute(weight, heads: 3) != weight)
        #expect(throws: TensorError.self) { try RotaryPermutation.unpermute(weight, heads: 5) }
        #expect(throws: TensorError.self) { try RotaryPermutation.unpermute(sampleTensor([6, 2], "odd"), heads: 2) }
    }
}
