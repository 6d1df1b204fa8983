import Foundation
import TesseraFormats
import TesseraModels
import TesseraNN
import TesseraParallel
import TesseraTensor

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
        try checkTensors()
        try checkPieces()
    }

    /// The manifest of the checkpoint `path` names, read without checking the files (for tools that need only
    /// its figures; ``init(path:)`` validates).
    /// - Throws: ``CheckpointError`` when there is no readable manifest.
    public static func manifest(in path: String) throws -> CheckpointManifest {
        let file = (try CheckpointDirectory.resolve(path) as NSString).appendingPathComponent(CheckpointManifest.fileName)
        do {
            return try JSONDecoder().decode(CheckpointManifest.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            throw CheckpointError.damaged(file: file, reason: "cannot be read: \(error)")
        }
    }

    private func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    private var manifestPath: String { file(CheckpointManifest.fileName) }

    /// Every listed file exists with its size and checksum. The files are checked on every core at once; the
    /// first bad one in the manifest's order is named.
    private func checkFiles() throws {
        for entry in manifest.files {
            guard !entry.name.contains("/"), entry.name != CheckpointManifest.fileName else {
                throw CheckpointError.damaged(file: manifestPath, reason: "lists \(entry.name), which is not a plain file name of the checkpoint")
            }
            let path = file(entry.name)
            guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError.damaged(file: path, reason: "missing") }
        }
        let found = try Self.concurrentMap(manifest.files) { try CheckpointManifest.File(name: $0.name, in: path) }
        for (entry, actual) in zip(manifest.files, found) {
            let path = file(entry.name)
            guard actual.size == entry.size else {
                throw CheckpointError.damaged(file: path, reason: "\(actual.size) bytes, the manifest says \(entry.size): truncated or overwritten")
            }
            guard actual.checksum == entry.checksum else {
                throw CheckpointError.damaged(file: path, reason: "checksum \(actual.checksum) differs from the manifest's \(entry.checksum)")
            }
        }
    }

    /// `transform` of every element, computed on as many threads as there are cores (elements dealt out in
    /// turn); the first error in the elements' order is rethrown.
    private static func concurrentMap<T, R>(_ elements: [T], _ transform: (T) throws -> R) throws -> [R] {
        var results = [Result<R, any Error>?](repeating: nil, count: elements.count)
        let pool = ComputePool(threads: min(elements.count, ProcessInfo.processInfo.activeProcessorCount))
        results.withUnsafeMutableBufferPointer { slots in
            pool.run(parts: pool.threadCount) { part in
                for i in stride(from: part, to: elements.count, by: pool.threadCount) { slots[i] = Result { try transform(elements[i]) } }
            }
        }
        return try results.map { try $0!.get() }
    }

    /// The manifest lists the weight and both AdamW moments of every parameter of its model, and nothing else.
    private func checkTensors() throws {
        let model: TransformerConfig
        do {
            model = try manifest.modelConfig()
        } catch {
            throw CheckpointError.damaged(file: manifestPath, reason: "its model configuration cannot be read: \(error)")
        }
        let states = [MeshEngine.weightState] + OptimizerMoment.allCases.map(\.rawValue)
        let expected = Set(model.parameterSpecs(context: .single).flatMap { spec in states.map { "\($0) of \(spec.name)" } })
        let listed = manifest.tensors.map { "\($0.state) of \($0.name)" }
        if let missing = expected.subtracting(listed).sorted().first {
            throw CheckpointError.damaged(file: manifestPath, reason: "it lists no \(missing)")
        }
        if let unknown = listed.first(where: { !expected.contains($0) }) {
            throw CheckpointError.damaged(file: manifestPath, reason: "it lists \(unknown), which its model does not have")
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

    /// Loads this rank's part of the checkpoint into `engine`, whatever its layout: its slices of the weights and
    /// its owned AdamW moments, each local run copied straight from the mapped files (only the bytes it needs),
    /// and the step counts.
    /// - Throws: ``CheckpointError`` for a tensor the checkpoint lacks, of another shape, or whose pieces leave
    ///   elements uncovered.
    public func restore(into engine: MeshEngine) throws {
        let entries = Dictionary(manifest.tensors.map { ("\($0.state)/\($0.name)", $0) }, uniquingKeysWith: { a, _ in a })
        var files: [String: MappedFile] = [:]
        func mapped(_ name: String) throws -> MappedFile {
            if let open = files[name] { return open }
            do {
                let opened = try MappedFile(path: file(name))
                files[name] = opened
                return opened
            } catch {
                throw CheckpointError.damaged(file: file(name), reason: "cannot be read: \(error)")
            }
        }
        try engine.restoreState(step: manifest.step) { spec, state, localRange, destination in
            guard let entry = entries["\(state)/\(spec.name)"] else {
                throw CheckpointError.damaged(file: manifestPath, reason: "it holds no \(state) for \(spec.name)")
            }
            guard entry.globalShape == spec.globalShape else {
                throw CheckpointError.mismatch(what: "the shape of \(spec.name)", checkpoint: "\(entry.globalShape)", run: "\(spec.globalShape)",
                                               fix: "resume with the model the checkpoint was trained with")
            }
            let runs = try SavedRuns(entry, manifest: manifestPath, files: mapped)
            try spec.sharding.forEachRun(globalShape: spec.globalShape, within: localRange) { local, global, count in
                let target = destination + (local - localRange.lowerBound)
                guard runs.copy(global..<global + count, to: target) else {
                    throw CheckpointError.damaged(file: manifestPath, reason: "the pieces of \(state) of \(spec.name) leave elements of \(global)..<\(global + count) uncovered")
                }
            }
        }
    }
}
