/// Why a checkpoint cannot be written, read or resumed from. Each message is one line naming the file or
/// option at fault and the fix.
public enum CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `path` holds no Tessera checkpoint.
    case notACheckpoint(path: String, reason: String)
    /// The manifest names a format version this build does not read.
    case unsupportedVersion(path: String, version: Int, supported: Int)
    /// A file is missing, truncated, has the wrong checksum, or contradicts the manifest.
    case damaged(file: String, reason: String)
    /// The run being resumed differs from the saved one in `what` (the model, the tokenizer, the data, a batch option).
    case mismatch(what: String, checkpoint: String, run: String, fix: String)

    public var description: String {
        switch self {
        case let .notACheckpoint(path, reason):
            return "\(path): not a Tessera checkpoint (\(reason)); pass a step-NNNNNNN directory or a --checkpoint-dir root that holds one"
        case let .unsupportedVersion(path, version, supported):
            return "\(path): checkpoint format version \(version) is not supported (this build reads version \(supported));"
                + " use the Tessera version that wrote it, or export it with that version to a Hugging Face directory"
        case let .damaged(file, reason):
            return "\(file): damaged checkpoint (\(reason)); resume from an earlier checkpoint (pass its step-NNNNNNN directory)"
        case let .mismatch(what, checkpoint, run, fix):
            return "\(what) differs from the checkpoint's (checkpoint: \(checkpoint); this run: \(run)); \(fix)"
        }
    }
}
