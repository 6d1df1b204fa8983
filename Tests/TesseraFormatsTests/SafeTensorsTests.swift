import Foundation
import Testing
import TesseraFormats
import TesseraTensor

@Suite struct SafeTensorsTests {
    @Test func roundTripKeepsValuesShapesOrderAndMetadata() throws {
        let dir = try TemporaryDirectory()
        let a = sampleTensor([3, 5], "a"), b = sampleTensor([7], "b"), c = sampleTensor([2, 3, 4], "c")
        let scalar = try Tensor(shape: [], scalars: [2.5])
        var writer = SafeTensorsWriter(metadata: ["format": "pt", "note": "tessera"])
        try writer.add(a, named: "a")
        try writer.add(b, named: "b", as: .f16)
        try writer.add(c, named: "c", as: .bf16)
        try writer.add(scalar, named: "s")
        try writer.add(Tensor(shape: [0, 4]), named: "empty")
        try writer.write(to: dir.file("x.safetensors"))

        let file = try SafeTensorsFile(path: dir.file("x.safetensors"))
        #expect(file.tensorNames == ["a", "b", "c", "s", "empty"])
        #expect(file.metadata == ["format": "pt", "note": "tessera"])
        #expect(try file.tensor(named: "a") == a)
        #expect(try file.tensor(named: "s") == scalar)
        #expect(try file.tensor(named: "empty").shape == [0, 4])
        let info = try #require(file.info(named: "b"))
        #expect(info.storageType == "F16" && info.dtype == .f16 && info.shape == [7])
        let expectB = try QuantizedTensor(quantizing: b, as: .f16).dequantized()
        let expectC = try QuantizedTensor(quantizing: c, as: .bf16).dequantized()
        #expect(try file.tensor(named: "b") == expectB)
        #expect(try file.tensor(named: "c") == expectC)
        #expect(try file.storedTensor(named: "c") == QuantizedTensor(quantizing: c, as: .bf16))
        #expect(file.contains("a") && !file.contains("z"))
        #expect(try dir.contents() == ["x.safetensors"], "no temporary file is left behind")
    }

    @Test func headerIsPaddedSoDataStartsOnAnEightByteBoundary() throws {
        let dir = try TemporaryDirectory()
        var writer = SafeTensorsWriter()
        try writer.add(sampleTensor([3], "odd"), named: "odd-name")
        try writer.write(to: dir.file("p.safetensors"))
        let bytes = try dir.read("p.safetensors")
        let headerLength = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect((8 + headerLength) % 8 == 0)
        #expect(bytes.count == 8 + headerLength + 12)
    }

    @Test(arguments: [0, 1, 2])
    func slicesReadOnlyTheirPartAndMatchTheNaiveSlice(dimension: Int) throws {
        let dir = try TemporaryDirectory()
        let t = sampleTensor([4, 6, 5], "t")
        var writer = SafeTensorsWriter()
        try writer.add(t, named: "t")
        try writer.write(to: dir.file("t.safetensors"))
        let file = try SafeTensorsFile(path: dir.file("t.safetensors"))
        for range in [0..<1, 1..<3, 0..<t.shape[dimension], 2..<2] {
            #expect(try file.tensor(named: "t", range: range, alongDimension: dimension) == naiveSlice(t, range, alongDimension: dimension))
        }
        #expect(try file.tensor(named: "t", rows: 1..<3) == naiveSlice(t, 1..<3, alongDimension: 0))
        // A wrong reference must be told apart (the comparison can fail).
        #expect(try file.tensor(named: "t", range: 1..<3, alongDimension: dimension) != naiveSlice(t, 0..<2, alongDimension: dimension))
    }

    @Test func badSliceRequestsThrowNamingTheTensor() throws {
        let dir = try TemporaryDirectory()
        var writer = SafeTensorsWriter()
        try writer.add(sampleTensor([4, 6], "t"), named: "t")
        try writer.write(to: dir.file("t.safetensors"))
        let file = try SafeTensorsFile(path: dir.file("t.safetensors"))
        #expect(throws: FormatError.self) { try file.tensor(named: "t", rows: 3..<5) }
        #expect(throws: FormatError.self) { try file.tensor(named: "t", range: 0..<1, alongDimension: 2) }
        do {
            _ = try file.tensor(named: "missing")
            Issue.record("expected missingTensor")
        } catch let error as FormatError {
            #expect(error == .missingTensor(path: dir.file("t.safetensors"), tensor: "missing"))
        }
    }

    @Test func readsIntegerAndDoubleTensorsWrittenByHand() throws {
        // [I64 [2]] = [-3, 7], then [F64 []] = 0.5, then [U8 [3]] = [1, 2, 255].
        let header = #"{"i":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"d":{"dtype":"F64","shape":[],"data_offsets":[16,24]},"u":{"dtype":"U8","shape":[3],"data_offsets":[24,27]}}"#
        var data: [UInt8] = []
        withUnsafeBytes(of: Int64(-3).littleEndian) { data += $0 }
        withUnsafeBytes(of: Int64(7).littleEndian) { data += $0 }
        withUnsafeBytes(of: 0.5) { data += $0 }
        data += [1, 2, 255]
        let dir = try TemporaryDirectory()
        let path = try dir.write(SafeTensorsBytes.assemble(header: header, data: data), to: "ints.safetensors")
        let file = try SafeTensorsFile(path: path)
        #expect(try file.tensor(named: "i").scalars == [-3, 7])
        #expect(try file.tensor(named: "d").scalars == [0.5])
        #expect(try file.tensor(named: "u").scalars == [1, 2, 255])
        #expect(throws: FormatError.self) { try file.storedTensor(named: "i") }
    }

    @Test func readsTheFileThatPythonSafetensorsWrote() throws {
        // Written by scripts/make_tokenizer_fixtures.py with safetensors.torch.save_file:
        // float tensors hold arange(n) / 8, the integer one arange(n).
        let file = try SafeTensorsFile(path: Locations.fixtures + "/python.safetensors")
        for name in file.tensorNames {
            let info = try #require(file.info(named: name))
            let values = try file.tensor(named: name).scalars
            let scale: Float = info.storageType == "I64" ? 1 : 8
            #expect(values == (0..<info.elementCount).map { Float($0) / scale }, "\(name) \(info.storageType)")
        }
        #expect(Set(file.tensorNames) == ["f32", "f16", "bf16", "i64", "f32_3d"])
        #expect(file.info(named: "f32_3d")?.shape == [2, 3, 4])
    }
}

/// Builds safetensors files byte by byte, for corrupting them.
enum SafeTensorsBytes {
    static func assemble(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        var bytes: [UInt8] = []
        withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian) { bytes += $0 }
        return bytes + json + data
    }

    /// Splits a valid file into its header text and data.
    static func split(_ bytes: [UInt8]) -> (header: String, data: [UInt8]) {
        let length = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        return (String(decoding: bytes[8..<(8 + length)], as: UTF8.self), Array(bytes[(8 + length)...]))
    }
}
