/// Atomic whole-file writes for every layer (id caches, metrics, tokenizer files, traces, pictures): readers see the old
/// file or the complete new one, never a torn write (temporary file in the same directory, `fsync`, rename).
public enum AtomicWrite {
    /// Writes `bytes` to `path`, replacing any file there.
    /// - Throws: ``FileWriteError``; the destination is untouched on failure.
    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        try AtomicFile.write(to: path) { try $0.write(bytes) }
    }

    /// Writes `bytes` to `path`, replacing any file there.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try bytes.withUnsafeBytes { try write($0, to: path) }
    }

    /// Writes a string's UTF-8 bytes to `path`.
    public static func write(_ text: String, to path: String) throws {
        var copy = text
        try copy.withUTF8 { try write(UnsafeRawBufferPointer($0), to: path) }
    }
}
