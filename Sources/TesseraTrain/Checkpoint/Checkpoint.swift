import Foundation
import TesseraFormats
import TesseraModels
import TesseraNN

/// A complete checkpoint opened for reading: its manifest read and every file checked (present, of the listed
/// size and checksum) and every piece checked against the files and the tensor shapes, before anything is loaded.
public struct Checkpoint: Sendable {
    /// The checkpoint's own directory (`.../step-NNNNNNN`).
    public let path: String
    public let manifest: CheckpointManifest

    /// Opens `path`: a checkpoint directory, or a checkpoint root meaning its latest checkpoint.
    /// - Throws: ``CheckpointError/notACheckpoint(path:reason:)``, ``CheckpointError/unsupportedVersion(path:version:supported:)``,
    ///   or ``CheckpointError/damaged(file:reason:)`` naming the first file that is missing, truncated, of another
    ///   checksum, or that contradicts the manifest.
    public init(path: String) throws {
        let directory = try CheckpointDirectory.resolve(path)
        let manifestPath = (directory as NSString).appendingPathComponent(CheckpointManifest.fileName)
        guard let bytes = FileManager.default.contents(atPath: manifestPath) else {
            throw CheckpointError.damaged(file: manifestPath, reason: "cannot be read")
        }
        struct Header: Decodable {
            var format: String?
            var version: Int?
        }
        guard let header = try? JSONDecoder().decode(Header.self, from: bytes) else {
            throw CheckpointError.damaged(file: manifestPath, reason: "not valid JSON")
        }
        guard header.format == CheckpointManifest.formatName else {
            throw CheckpointError.notACheckpoint(path: directory, reason: "its manifest.json names format \(header.format ?? "none"),"
                                                 + " not \(CheckpointManifest.formatName)")
        }
        guard header.version == CheckpointManifest.currentVersion else {
            throw CheckpointError.unsupportedVersion(path: manifestPath, version: header.version ?? 0, supported: CheckpointManifest.currentVersion)
        }
        do {
            manifest = try JSONDecoder().decode(CheckpointManifest.self, from: bytes)
        } catch {
            throw CheckpointError.damaged(file: manifestPath, reason: "a field is missing or malformed: \(error)")
        }
        self.path = directory
        try checkFiles()
        try checkPieces()
    }

    private func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    private var manifestPath: String { file(CheckpointManifest.fileName) }

    /// Every listed file exists with its size and checksum.
    private func checkFiles() throws {
        for entry in manifest.files {
            guard !entry.name.contains("/"), entry.name != CheckpointManifest.fileName else {
                throw CheckpointError.damaged(file: manifestPath, reason: "lists \(entry.name), which is not a plain file name of the checkpoint")
            }
            let path = file(entry.name)
            guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError.damaged(file: path, reason: "missing") }
            let actual = try CheckpointManifest.File(name: entry.name, in: self.path)
            guard actual.size == entry.size else {
                throw CheckpointError.damaged(file: path, reason: "\(actual.size) bytes, the manifest says \(entry.size): truncated or overwritten")
            }
            guard actual.checksum == entry.checksum else {
                throw CheckpointError.damaged(file: path, reason: "checksum \(actual.checksum) differs from the manifest's \(entry.checksum)")
            }
        }
    }

    /// Every piece lies inside a listed file and inside its shard; each tensor's pieces cover it exactly once.
    private func checkPieces() throws {
        let sizes = Dictionary(manifest.files.map { ($0.name, $0.size) }, uniquingKeysWith: { a, _ in a })
        for tensor in manifest.tensors {
            let what = "\(tensor.state) of \(tensor.name)"
            guard tensor.globalShape.allSatisfy({ $0 > 0 }) else {
                throw CheckpointError.damaged(file: manifestPath, reason: "\(what) has the shape \(tensor.globalShape)")
            }
            var covered = 0
            for piece in tensor.pieces {
                guard let size = sizes[piece.file] else {
                    throw CheckpointError.damaged(file: manifestPath, reason: "\(what) refers to \(piece.file), which the manifest does not list")
                }
                let s = piece.sharding
                guard s.parts >= 1, s.blocks >= 1, (0..<s.parts).contains(s.index), s.fits(globalShape: tensor.globalShape),
                      piece.localStart >= 0, piece.count >= 0,
                      piece.localStart + piece.count <= s.localShape(ofGlobal: tensor.globalShape).reduce(1, *) else {
                    throw CheckpointError.damaged(file: manifestPath, reason: "a piece of \(what) does not fit its shard \(s)")
                }
                guard piece.offset >= 0, piece.offset + 4 * piece.count <= size else {
                    throw CheckpointError.damaged(file: file(piece.file), reason: "\(what) ends at byte \(piece.offset + 4 * piece.count), past the file's \(size) bytes")
                }
                s.forEachRun(globalShape: tensor.globalShape, within: piece.localStart..<piece.localStart + piece.count) { _, _, count in
                    covered += count
                }
            }
            let elements = tensor.globalShape.reduce(1, *)
            guard covered == elements else {
                throw CheckpointError.damaged(file: manifestPath, reason: "the pieces of \(what) cover \(covered) of its \(elements) elements")
            }
        }
    }

    /// Loads this rank's part of the checkpoint into `engine`, whatever its layout: its slices of the weights
    /// (from the Hugging Face files, reading only those bytes), its owned AdamW moments re-sharded from the
    /// saved pieces, and the step counts.
    /// - Throws: ``CheckpointError`` for a tensor the checkpoint lacks or of another shape; ``ModelError`` and
    ///   format errors from the weight files.
    public func restore(into engine: MeshEngine) throws {
        try engine.model.load(from: SafeTensorsCheckpoint(path: path))
        let entries = Dictionary(manifest.tensors.map { ("\($0.state)/\($0.name)", $0) }, uniquingKeysWith: { a, _ in a })
        var cache: [String: [Float]] = [:]
        var cachedName = ""
        try engine.restoreOptimizer(step: manifest.step) { spec, moment in
            if spec.name != cachedName { cache = [:]; cachedName = spec.name }
            let key = "\(moment.rawValue)/\(spec.name)"
            if let values = cache[key] { return values }
            guard let entry = entries[key] else {
                throw CheckpointError.damaged(file: manifestPath, reason: "it holds no \(moment.rawValue) for \(spec.name)")
            }
            guard entry.globalShape == spec.globalShape else {
                throw CheckpointError.mismatch(what: "the shape of \(spec.name)", checkpoint: "\(entry.globalShape)", run: "\(spec.globalShape)",
                                               fix: "resume with the model the checkpoint was trained with")
            }
            let values = try assemble(entry)
            cache[key] = values
            return values
        }
    }

    /// The full tensor of `entry`, put together from its pieces.
    func assemble(_ entry: CheckpointManifest.TensorEntry) throws -> [Float] {
        var global = [Float](repeating: 0, count: entry.globalShape.reduce(1, *))
        for piece in entry.pieces {
            let values = try read(piece)
            piece.sharding.forEachRun(globalShape: entry.globalShape, within: piece.localStart..<piece.localStart + piece.count) { local, start, count in
                let from = local - piece.localStart
                global.replaceSubrange(start..<start + count, with: values[from..<from + count])
            }
        }
        return global
    }

    /// A piece's values (little-endian f32).
    private func read(_ piece: CheckpointManifest.Piece) throws -> [Float] {
        let path = file(piece.file)
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CheckpointError.damaged(file: path, reason: "cannot be opened") }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: UInt64(piece.offset))
            let bytes = try handle.read(upToCount: 4 * piece.count) ?? Data()
            guard bytes.count == 4 * piece.count else { throw CheckpointError.damaged(file: path, reason: "ends inside a tensor") }
            // Little-endian f32 on disk; every platform Tessera builds for is little-endian.
            return [Float](unsafeUninitializedCapacity: piece.count) { buffer, initialized in
                bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
                initialized = piece.count
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError.damaged(file: path, reason: "cannot be read: \(error.localizedDescription)")
        }
    }
}
