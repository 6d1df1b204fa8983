import Foundation
import Testing
import TesseraFormats
import TesseraTensor

/// GGUF bytes built field by field, independently of ``GGUFWriter``, so each field can be damaged on its own.
struct GGUFBytes {
    struct TensorEntry {
        var name: String
        var ne: [UInt64]
        var type: UInt32
        var offset: UInt64
    }

    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3
    var tensorCount: UInt64? = nil
    var metadataCount: UInt64? = nil
    var metadata: [[UInt8]] = [GGUFBytes.pair("general.architecture", type: 8, GGUFBytes.string("llama"))]
    var tensors = [TensorEntry(name: "a", ne: [32, 2], type: 0, offset: 0),   // F32 [2, 32]: 256 bytes
                   TensorEntry(name: "b", ne: [32], type: 8, offset: 256)]    // Q8_0 [32]: 34 bytes
    var dataSize = 290

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func string(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
    static func pair(_ key: String, type: UInt32, _ value: [UInt8]) -> [UInt8] { string(key) + le(type) + value }

    var bytes: [UInt8] {
        var out = magic + Self.le(version)
        out += Self.le(tensorCount ?? UInt64(tensors.count)) + Self.le(metadataCount ?? UInt64(metadata.count))
        for pair in metadata { out += pair }
        for t in tensors {
            out += Self.string(t.name) + Self.le(UInt32(t.ne.count))
            for d in t.ne { out += Self.le(d) }
            out += Self.le(t.type) + Self.le(t.offset)
        }
        out += [UInt8](repeating: 0, count: (32 - out.count % 32) % 32)
        // F32 data 0, 1, 2, …; the Q8_0 block gets scale 1.0 (f16 0x3C00) and quants 0, 1, 2, ….
        var data: [UInt8] = (0..<64).flatMap { Self.le(Float($0).bitPattern) }
        data += [0x00, 0x3C] + (0..<32).map { UInt8($0) }
        data += [UInt8](repeating: 0, count: max(0, dataSize - data.count))
        return out + data[0..<dataSize]
    }
}

@Suite struct GGUFCorruptionTests {
    func open(_ bytes: [UInt8]) throws -> GGUFFile {
        let dir = try TemporaryDirectory()
        return try GGUFFile(path: try dir.write(bytes, to: "x.gguf"))
    }

    /// Expects opening to throw a ``FormatError`` of the given kind whose message names the tensor and the problem.
    func expectRefused(_ bytes: [UInt8], tensor: String? = nil, mentioning phrase: String, unsupported: Bool = false) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write(bytes, to: "bad.gguf")
        do {
            _ = try GGUFFile(path: path)
            Issue.record("expected an error mentioning '\(phrase)'")
        } catch let error as FormatError {
            switch error {
            case let .invalidCheckpoint(errorPath, errorTensor, reason) where !unsupported,
                 let .unsupported(errorPath, errorTensor, reason) where unsupported:
                #expect(errorPath == path)
                #expect(errorTensor == tensor, "\(error)")
                #expect(reason.contains(phrase), "\(reason)")
            default:
                Issue.record("unexpected \(error)")
            }
        }
    }

    @Test func theUnmodifiedBaseFileIsValid() throws {
        let file = try open(GGUFBytes().bytes)
        #expect(try file.tensor(named: "a") == Tensor(shape: [2, 32], scalars: (0..<64).map(Float.init)))
        #expect(try file.tensor(named: "b").scalars == (0..<32).map(Float.init))
    }

    @Test func everyTruncationThrowsAndNeverCrashes() throws {
        let valid = GGUFBytes().bytes
        let dir = try TemporaryDirectory()
        let headerEnd = valid.count - GGUFBytes().dataSize
        for length in Array(0..<headerEnd) + Array(stride(from: headerEnd, to: valid.count, by: 17)) {
            let path = try dir.write(Array(valid[0..<length]), to: "truncated.gguf")
            #expect(throws: FormatError.self, "truncated to \(length) bytes") { try GGUFFile(path: path) }
        }
    }

    @Test func badMagicAndVersions() throws {
        var g = GGUFBytes()
        g.magic = Array("GGML".utf8)
        try expectRefused(g.bytes, mentioning: "not a GGUF file")
        g = GGUFBytes()
        g.version = 1
        try expectRefused(g.bytes, mentioning: "version 1 is not supported", unsupported: true)
        g.version = UInt32(3).byteSwapped
        try expectRefused(g.bytes, mentioning: "big-endian", unsupported: true)
    }

    @Test func countsPastTheEnd() throws {
        var g = GGUFBytes()
        g.tensorCount = 1 << 40
        try expectRefused(g.bytes, mentioning: "tensor count")
        g = GGUFBytes()
        g.metadataCount = .max
        try expectRefused(g.bytes, mentioning: "metadata count")
        g = GGUFBytes()
        g.metadata = [GGUFBytes.string("k") + GGUFBytes.le(UInt32(9)) + GGUFBytes.le(UInt32(4)) + GGUFBytes.le(UInt64(1) << 50)]
        try expectRefused(g.bytes, mentioning: "array length")
        g = GGUFBytes()
        g.metadata = [GGUFBytes.le(UInt64(1) << 62)]
        try expectRefused(g.bytes, mentioning: "string length")
    }

    @Test func badMetadataValues() throws {
        var g = GGUFBytes()
        g.metadata.append(GGUFBytes.pair("k", type: 13, []))
        try expectRefused(g.bytes, mentioning: "unknown metadata value type 13")
        g = GGUFBytes()
        g.metadata.append(GGUFBytes.pair("general.architecture", type: 8, GGUFBytes.string("gpt2")))
        try expectRefused(g.bytes, mentioning: "appears twice")
        g = GGUFBytes()
        g.metadata.append(GGUFBytes.pair("flag", type: 7, [2]))
        try expectRefused(g.bytes, mentioning: "bool")
        g = GGUFBytes()
        g.metadata.append(GGUFBytes.pair("text", type: 8, GGUFBytes.le(UInt64(2)) + [0xC3, 0x28]))
        try expectRefused(g.bytes, mentioning: "UTF-8")
        for alignment: [UInt8] in [GGUFBytes.le(UInt32(48)), GGUFBytes.le(UInt32(0))] {
            g = GGUFBytes()
            g.metadata.append(GGUFBytes.pair("general.alignment", type: 4, alignment))
            try expectRefused(g.bytes, mentioning: "power of two")
        }
    }

    @Test func badTensorInfos() throws {
        var g = GGUFBytes()
        g.tensors[1].type = 77
        try expectRefused(g.bytes, tensor: "b", mentioning: "unknown tensor type 77")
        g = GGUFBytes()
        g.tensors[0].ne = [32, 2, 1, 1, 1]
        try expectRefused(g.bytes, tensor: "a", mentioning: "at most 4")
        g = GGUFBytes()
        g.tensors[0].ne = [1 << 40, 1 << 40]
        try expectRefused(g.bytes, tensor: "a", mentioning: "overflow")
        g = GGUFBytes()
        g.tensors[0].ne = [UInt64.max]
        try expectRefused(g.bytes, tensor: "a", mentioning: "absurd")
        g = GGUFBytes()
        g.tensors[1].ne = [16]
        try expectRefused(g.bytes, tensor: "b", mentioning: "whole Q8_0 blocks")
        g = GGUFBytes()
        g.tensors[1].name = "a"
        try expectRefused(g.bytes, tensor: "a", mentioning: "appears twice")
    }

    @Test func misalignedOverlappingAndOutOfRangeOffsets() throws {
        var g = GGUFBytes()
        g.tensors[1].offset = 260
        try expectRefused(g.bytes, tensor: "b", mentioning: "not a multiple of the alignment 32")
        g = GGUFBytes()
        g.tensors[1].offset = 224
        try expectRefused(g.bytes, tensor: "b", mentioning: "overlaps tensor 'a'")
        g = GGUFBytes()
        g.tensors[1].offset = 1 << 20
        try expectRefused(g.bytes, tensor: "b", mentioning: "past the end of the file")
        g = GGUFBytes()
        g.tensors[1].offset = 288
        try expectRefused(g.bytes, tensor: "b", mentioning: "past the end of the data section")
        g = GGUFBytes()
        g.dataSize = 280
        try expectRefused(g.bytes, tensor: "b", mentioning: "truncated")
    }

    @Test func undecodedTypesAreListedButReadingThemThrows() throws {
        var g = GGUFBytes()
        g.tensors[1] = .init(name: "k", ne: [256], type: 13, offset: 256)  // Q5_K: 176 bytes per 256
        g.dataSize = 256 + 176
        let file = try open(g.bytes)
        #expect(file.info(named: "k")?.storageType == "Q5_K")
        #expect(file.info(named: "k")?.dtype == nil)
        #expect(throws: FormatError.self) { try file.tensor(named: "k") }
        #expect(throws: FormatError.self) { try file.storedTensor(named: "k") }
    }
}
