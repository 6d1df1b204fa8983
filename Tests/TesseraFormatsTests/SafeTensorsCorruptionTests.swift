import Foundation
import Testing
import TesseraFormats
import TesseraTensor

/// Damaged safetensors files, each built from a valid one, must end in a typed error naming the file, the
/// tensor and the problem.
@Suite struct SafeTensorsCorruptionTests {
    static let validHeader = #"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[3],"data_offsets":[24,36]}}"#
    static let validData: [UInt8] = (0..<9).flatMap { i in withUnsafeBytes(of: Float(i)) { Array($0) } }

    /// Writes `bytes` and expects opening to throw `invalidCheckpoint` whose tensor and message match.
    func expectInvalid(_ bytes: [UInt8], tensor: String?, mentioning phrase: String) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write(bytes, to: "bad.safetensors")
        do {
            _ = try SafeTensorsFile(path: path)
            Issue.record("expected an error mentioning '\(phrase)'")
        } catch let error as FormatError {
            guard case let .invalidCheckpoint(errorPath, errorTensor, reason) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(errorPath == path)
            #expect(errorTensor == tensor)
            #expect(reason.contains(phrase), "\(reason)")
            #expect(error.description.contains(path))
        }
    }

    func mutated(_ from: String, _ to: String, data: [UInt8] = validData) -> [UInt8] {
        precondition(Self.validHeader.contains(from))
        return SafeTensorsBytes.assemble(header: Self.validHeader.replacingOccurrences(of: from, with: to), data: data)
    }

    @Test func theUnmodifiedBaseFileIsValid() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write(SafeTensorsBytes.assemble(header: Self.validHeader, data: Self.validData), to: "ok.safetensors")
        let file = try SafeTensorsFile(path: path)
        #expect(try file.tensor(named: "b").scalars == [6, 7, 8])
    }

    @Test func truncatedFiles() throws {
        let valid = SafeTensorsBytes.assemble(header: Self.validHeader, data: Self.validData)
        try expectInvalid([], tensor: nil, mentioning: "shorter than the 8-byte header length")
        try expectInvalid(Array(valid[0..<5]), tensor: nil, mentioning: "shorter than the 8-byte header length")
        try expectInvalid(Array(valid[0..<40]), tensor: nil, mentioning: "runs past the end of the file")
        try expectInvalid(Array(valid.dropLast(1)), tensor: "b", mentioning: "past the data section")
        try expectInvalid(Array(valid.dropLast(12)), tensor: "b", mentioning: "past the data section")
    }

    @Test func headerLengthPastTheEnd() throws {
        let bytes = SafeTensorsBytes.assemble(header: Self.validHeader, data: Self.validData, declaredLength: 1 << 40)
        try expectInvalid(bytes, tensor: nil, mentioning: "runs past the end of the file")
        let huge = SafeTensorsBytes.assemble(header: Self.validHeader, data: Self.validData, declaredLength: .max)
        try expectInvalid(huge, tensor: nil, mentioning: "runs past the end of the file")
    }

    @Test func invalidJSON() throws {
        try expectInvalid(mutated("\"b\":{", "\"b\":"), tensor: nil, mentioning: "not valid JSON")
        try expectInvalid(SafeTensorsBytes.assemble(header: "[1,2]", data: []), tensor: nil, mentioning: "not a JSON object")
        var invalidUTF8 = SafeTensorsBytes.assemble(header: "{\"w\":\"?\"}", data: [])
        invalidUTF8[invalidUTF8.count - 3] = 0xFF
        try expectInvalid(invalidUTF8, tensor: nil, mentioning: "not valid JSON")
    }

    @Test func overlappingOffsets() throws {
        try expectInvalid(mutated("[24,36]", "[20,32]", data: Self.validData.dropLast(4)), tensor: "b", mentioning: "overlaps tensor 'w'")
    }

    @Test func outOfRangeOffsets() throws {
        try expectInvalid(mutated("[24,36]", "[1000024,1000036]"), tensor: "b", mentioning: "past the data section")
        try expectInvalid(mutated("[24,36]", "[-4,8]"), tensor: "b", mentioning: "data_offsets")
        try expectInvalid(mutated("[24,36]", "[36,24]"), tensor: "b", mentioning: "data_offsets")
        try expectInvalid(mutated("[24,36]", "[24,99999999999999999999999]"), tensor: "b", mentioning: "data_offsets")
    }

    @Test func gapsAndTrailingBytes() throws {
        try expectInvalid(mutated("[24,36]", "[28,40]", data: Self.validData + [0, 0, 0, 0]), tensor: "b", mentioning: "not contiguous")
        try expectInvalid(SafeTensorsBytes.assemble(header: Self.validHeader, data: Self.validData + [0]), tensor: nil, mentioning: "trailing bytes")
    }

    @Test func unknownDType() throws {
        try expectInvalid(mutated("\"dtype\":\"F32\",\"shape\":[3]", "\"dtype\":\"F33\",\"shape\":[3]"), tensor: "b", mentioning: "unknown dtype 'F33'")
    }

    @Test func shapeAndSizeMismatch() throws {
        try expectInvalid(mutated("[2,3]", "[2,4]"), tensor: "w", mentioning: "needs 32")
        try expectInvalid(mutated("[2,3]", "[2,-3]"), tensor: "w", mentioning: "non-negative")
        try expectInvalid(mutated("[2,3]", "[4294967296,4294967296,4294967296]"), tensor: "w", mentioning: "overflows")
        try expectInvalid(mutated("\"shape\":[3],", ""), tensor: "b", mentioning: "no \"shape\"")
    }

    @Test func duplicateNames() throws {
        let header = #"{"b":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}}"#
        try expectInvalid(SafeTensorsBytes.assemble(header: header, data: Array(Self.validData[0..<24])), tensor: "b", mentioning: "twice")
    }

    @Test func badMetadata() throws {
        try expectInvalid(mutated("{\"format\":\"pt\"}", "{\"format\":3}"), tensor: nil, mentioning: "__metadata__")
    }

    @Test func unreadablePathIsAnIOError() {
        #expect(throws: FormatError.self) { try SafeTensorsFile(path: "/nonexistent/x.safetensors") }
        #expect(throws: FormatError.self) { try SafeTensorsFile(path: "/") }
    }

    @Test func float8IsListedButNotDecoded() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write(SafeTensorsBytes.assemble(
            header: #"{"q":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, data: [1, 2, 3, 4]), to: "f8.safetensors")
        let file = try SafeTensorsFile(path: path)
        #expect(file.info(named: "q")?.storageType == "F8_E4M3")
        #expect(throws: FormatError.self) { try file.tensor(named: "q") }
    }
}
