import Foundation
import Testing
import TesseraFiles
import TesseraFormats
import TesseraTensor

@Suite struct ShardedCheckpointTests {
    static let tensors = (0..<5).map { (name: "layer.\($0).weight", tensor: sampleTensor([4, 8], "layer\($0)")) }

    /// Writes the five tensors (128 bytes each) with at most 300 bytes per shard: three shards.
    func writeSharded(_ dir: TemporaryDirectory) throws -> [String] {
        var writer = SafeTensorsWriter()
        for t in Self.tensors { try writer.add(t.tensor, named: t.name) }
        return try writer.write(toDirectory: dir.path, maxShardBytes: 300)
    }

    @Test func shardsRoundTripThroughTheIndex() throws {
        let dir = try TemporaryDirectory()
        let files = try writeSharded(dir)
        #expect(files == ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                          "model-00003-of-00003.safetensors", "model.safetensors.index.json"])
        let checkpoint = try SafeTensorsCheckpoint(path: dir.path)
        #expect(checkpoint.files.count == 3)
        #expect(checkpoint.tensorNames == Self.tensors.map(\.name))
        #expect(checkpoint.indexMetadata?["total_size"] == .integer(640))
        for t in Self.tensors {
            #expect(try checkpoint.tensor(named: t.name) == t.tensor)
            #expect(try checkpoint.tensor(named: t.name, range: 2..<6, alongDimension: 1) == naiveSlice(t.tensor, 2..<6, alongDimension: 1))
        }
        #expect(checkpoint.info(named: "layer.4.weight")?.path.hasSuffix("model-00003-of-00003.safetensors") == true)
        // The index file itself opens the same checkpoint.
        #expect(try SafeTensorsCheckpoint(path: dir.file("model.safetensors.index.json")).tensorNames == checkpoint.tensorNames)
    }

    @Test func smallCheckpointsAreOneFileWithoutIndex() throws {
        let dir = try TemporaryDirectory()
        var writer = SafeTensorsWriter()
        try writer.add(sampleTensor([2], "x"), named: "x")
        #expect(try writer.write(toDirectory: dir.path) == ["model.safetensors"])
        let checkpoint = try SafeTensorsCheckpoint(path: dir.path)
        #expect(checkpoint.tensorNames == ["x"] && checkpoint.indexMetadata == nil)
    }

    func expectInvalidIndex(_ edit: (String) -> String, mentioning phrase: String) throws {
        let dir = try TemporaryDirectory()
        _ = try writeSharded(dir)
        let indexPath = dir.file("model.safetensors.index.json")
        let text = String(decoding: try dir.read("model.safetensors.index.json"), as: UTF8.self)
        _ = try dir.write(Array(edit(text).utf8), to: "model.safetensors.index.json")
        do {
            _ = try SafeTensorsCheckpoint(path: dir.path)
            Issue.record("expected an error mentioning \(phrase)")
        } catch let error as FormatError {
            #expect(error.description.contains(phrase), "\(error)")
            if case let .invalidCheckpoint(path, _, _) = error { #expect(path == indexPath) }
        }
    }

    @Test func inconsistentIndexesAreRefused() throws {
        try expectInvalidIndex({ $0.replacingOccurrences(of: "\"layer.3.weight\":\"model-00002-of-00003.safetensors\"",
                                                        with: "\"layer.3.weight\":\"model-00003-of-00003.safetensors\"") },
                               mentioning: "index maps it to model-00003")
        try expectInvalidIndex({ $0.replacingOccurrences(of: "\"layer.4.weight\":\"model-00003-of-00003.safetensors\"",
                                                        with: "\"layer.4.weight\":\"model-00002-of-00003.safetensors\"") },
                               mentioning: "which does not hold it")
        try expectInvalidIndex({ $0.replacingOccurrences(of: "\"layer.4.weight\":\"model-00003-of-00003.safetensors\"",
                                                        with: "\"layer.4.weight\":\"../model-00003-of-00003.safetensors\"") },
                               mentioning: "not a plain file name")
        try expectInvalidIndex({ $0.replacingOccurrences(of: "\"layer.3.weight\":\"model-00002-of-00003.safetensors\",", with: "") },
                               mentioning: "does not list it")
        try expectInvalidIndex({ $0.replacingOccurrences(of: "\"weight_map\":{", with: "\"weight_map\":{\"ghost\":\"model-00001-of-00003.safetensors\",") },
                               mentioning: "does not hold it")
        try expectInvalidIndex({ $0.replacingOccurrences(of: "weight_map", with: "weights") }, mentioning: "weight_map")
        try expectInvalidIndex({ $0 + "}" }, mentioning: "not valid JSON")
    }

    @Test func aMissingShardIsAnIOError() throws {
        let dir = try TemporaryDirectory()
        _ = try writeSharded(dir)
        try FileManager.default.removeItem(atPath: dir.file("model-00002-of-00003.safetensors"))
        #expect(throws: FormatError.self) { try SafeTensorsCheckpoint(path: dir.path) }
        let empty = try TemporaryDirectory()
        #expect(throws: FormatError.self) { try SafeTensorsCheckpoint(path: empty.path) }
    }

    @Test func writingOverAnExistingCheckpointIsAtomicAndLeavesNoTemporaryFiles() throws {
        let dir = try TemporaryDirectory()
        var first = SafeTensorsWriter()
        try first.add(sampleTensor([2], "old"), named: "x")
        try first.write(to: dir.file("m.safetensors"))
        var second = SafeTensorsWriter()
        try second.add(sampleTensor([3], "new"), named: "x")
        try second.write(to: dir.file("m.safetensors"))
        #expect(try SafeTensorsFile(path: dir.file("m.safetensors")).tensor(named: "x") == sampleTensor([3], "new"))
        #expect(try dir.contents() == ["m.safetensors"])
        // An unwritable destination throws and leaves the old file untouched.
        #expect(throws: FileWriteError.self) { try second.write(to: dir.file("m.safetensors/child")) }
        #expect(try SafeTensorsFile(path: dir.file("m.safetensors")).tensor(named: "x") == sampleTensor([3], "new"))
    }

    @Test func writerRefusesDuplicatesAndQuantizedDTypes() throws {
        var writer = SafeTensorsWriter()
        try writer.add(sampleTensor([2], "x"), named: "x")
        #expect(throws: FormatError.self) { try writer.add(sampleTensor([2], "x"), named: "x") }
        #expect(throws: FormatError.self) { try writer.add(sampleTensor([2], "y"), named: "y", as: .i64) }
    }
}
