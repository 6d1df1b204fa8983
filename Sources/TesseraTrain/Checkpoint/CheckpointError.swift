import TesseraParallel

/// Why a checkpoint cannot be written, read or resumed from. Each message is one line naming the file or
/// setting at fault and the fix; settings by their library names, which a front end words with ``message(naming:)``.
public enum CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `path` holds no Tessera checkpoint.
    case notACheckpoint(path: String, reason: String)
    /// The manifest names a format version this build does not read.
    case unsupportedVersion(path: String, version: Int, supported: Int)
    /// A file is missing, truncated, has the wrong checksum, or contradicts the manifest.
    case damaged(file: String, reason: String)
    /// The run being resumed differs from the saved one in `what` (the model, the tokenizer, the data, a batch option).
    case mismatch(what: SettingText, checkpoint: String, run: String, fix: SettingText)

    public var description: String { message(naming: .library) }

    /// The message with every setting named in `vocabulary`'s terms.
    public func message(naming vocabulary: SettingVocabulary) -> String {
        switch self {
        case let .notACheckpoint(path, reason):
            return "\(path): not a Tessera checkpoint (\(reason)); pass a step-NNNNNNN directory or a checkpoint root"
                + " (\(vocabulary.name(TrainingSetting.checkpointDirectory.name))) that holds one"
        case let .unsupportedVersion(path, version, supported):
            return "\(path): checkpoint format version \(version) is not supported (this build reads version \(supported));"
                + " use the Tessera version that wrote it, or export it with that version to a Hugging Face directory"
        case let .damaged(file, reason):
            return "\(file): damaged checkpoint (\(reason)); resume from an earlier checkpoint (pass its step-NNNNNNN directory)"
        case let .mismatch(what, checkpoint, run, fix):
            return "\(what.worded(vocabulary)) differs from the checkpoint's (checkpoint: \(checkpoint); this run: \(run));"
                + " \(fix.worded(vocabulary))"
        }
    }
}
