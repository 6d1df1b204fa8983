import Foundation
import TesseraFiles

/// The layout of a checkpoint root (`--checkpoint-dir`): complete checkpoints `step-NNNNNNN/` (each with its
/// manifest), at most one save in progress `step-NNNNNNN.partial/`, and `latest`, a symbolic link to the
/// newest complete checkpoint, replaced atomically.
public enum CheckpointDirectory {
    public static let latestName = "latest"
    static let partialSuffix = ".partial"
    static let deletingSuffix = ".deleting"

    /// `step-0000042`.
    public static func name(step: Int) -> String {
        let digits = String(step)
        return "step-" + String(repeating: "0", count: max(0, 7 - digits.count)) + digits
    }

    /// The step of a complete checkpoint's directory name, or `nil` for any other name.
    static func step(ofName name: String) -> Int? {
        guard name.hasPrefix("step-") else { return nil }
        return Int(name.dropFirst(5))
    }

    /// Complete checkpoints under `root` (directories with a manifest), oldest first.
    public static func checkpoints(in root: String) -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.compactMap { name -> (Int, String)? in
            let path = (root as NSString).appendingPathComponent(name)
            guard let step = step(ofName: name),
                  FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(CheckpointManifest.fileName))
            else { return nil }
            return (step, path)
        }.sorted { $0.0 < $1.0 }
    }

    /// The checkpoint `path` names: itself when it holds a manifest; for a root, the target of `latest`, or the
    /// newest complete checkpoint when `latest` is missing.
    /// - Throws: ``CheckpointError/notACheckpoint(path:reason:)``.
    public static func resolve(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError.notACheckpoint(path: path, reason: "no such directory")
        }
        guard isDirectory.boolValue else { throw CheckpointError.notACheckpoint(path: path, reason: "a file, not a directory") }
        if FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(CheckpointManifest.fileName)) {
            return path
        }
        let latest = (path as NSString).appendingPathComponent(latestName)
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: latest),
           FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(target) + "/" + CheckpointManifest.fileName) {
            return (path as NSString).appendingPathComponent(target)
        }
        guard let newest = checkpoints(in: path).last else {
            throw CheckpointError.notACheckpoint(path: path, reason: "no manifest.json and no complete step-NNNNNNN checkpoint inside")
        }
        return newest.path
    }

    /// Makes the finished `staging` directory the checkpoint of `step`: renamed into place (an older checkpoint of
    /// the same step moved aside and removed first), the root flushed, then `latest` pointed at it through a
    /// link renamed over the old one.
    /// - Throws: ``FileWriteError`` when a rename fails.
    static func commit(_ staging: String, step: Int, root: String) throws {
        let final = (root as NSString).appendingPathComponent(name(step: step))
        if FileManager.default.fileExists(atPath: final) { try remove(final) }
        try AtomicFile.rename(staging, to: final)
        let link = (root as NSString).appendingPathComponent(latestName + ".tmp-\(getpid())")
        try? FileManager.default.removeItem(atPath: link)
        do {
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: name(step: step))
        } catch {
            throw CheckpointError.damaged(file: link, reason: "cannot create the latest link: \(error.localizedDescription)")
        }
        try AtomicFile.rename(link, to: (root as NSString).appendingPathComponent(latestName))
    }

    /// Removes complete checkpoints beyond the newest `keep`, and abandoned saves (`.partial`, `.deleting`).
    static func prune(_ root: String, keep: Int) throws {
        let complete = checkpoints(in: root)
        for old in complete.dropLast(keep) { try remove(old.path) }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for name in names where name.hasSuffix(partialSuffix) || name.hasSuffix(deletingSuffix) {
            try? FileManager.default.removeItem(atPath: (root as NSString).appendingPathComponent(name))
        }
    }

    /// Renames a checkpoint out of the `step-N` namespace first, so a crash halfway through the removal never
    /// leaves a directory that looks complete.
    private static func remove(_ path: String) throws {
        let doomed = path + deletingSuffix + "-\(getpid())"
        try AtomicFile.rename(path, to: doomed)
        try? FileManager.default.removeItem(atPath: doomed)
    }
}
