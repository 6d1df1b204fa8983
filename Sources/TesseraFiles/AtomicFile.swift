#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that readers see either the old file or the complete new one, never a torn write:
/// the bytes go to a temporary file in the same directory, which is flushed (`fsync`) and then renamed over
/// the destination; the directory is flushed too so the rename survives a crash.
///
/// If `body` throws, the temporary file is removed and the destination is left untouched.
public enum AtomicFile {
    /// Runs `body` on a sink that writes a temporary file beside `path`, then makes it `path`, and returns what
    /// `body` returned (say the sink's ``FileSink/checksum``).
    /// - Throws: ``FileWriteError`` naming the failing system call, or what `body` throws.
    @discardableResult
    public static func write<Result>(to path: String, _ body: (inout FileSink) throws -> Result) throws -> Result {
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileWriteError(path: temporary, operation: "open") }
        var sink = FileSink(descriptor: fd, path: path)
        let result: Result
        do {
            result = try body(&sink)
            try sink.flush()
            guard fsync(fd) == 0 else { throw FileWriteError(path: temporary, operation: "fsync") }
            guard close(fd) == 0 else {
                unlink(temporary)
                throw FileWriteError(path: temporary, operation: "close")
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard posixRename(temporary, path) == 0 else {
            let failure = FileWriteError(path: path, operation: "rename")
            unlink(temporary)
            throw failure
        }
        syncDirectory(FilePath.directory(of: path))
        return result
    }

    /// Flushes a directory's entries (`fsync` on the directory), so renames and creations in it survive a crash.
    /// Best effort: a directory that cannot be opened is left as it is.
    public static func syncDirectory(_ path: String) {
        let directory = open(path, O_RDONLY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }

    /// Renames `source` to `destination` (a file or a directory) and flushes the destination's directory.
    /// - Throws: ``FileWriteError`` naming `destination` when the rename fails.
    public static func rename(_ source: String, to destination: String) throws {
        guard posixRename(source, destination) == 0 else { throw FileWriteError(path: destination, operation: "rename") }
        syncDirectory(FilePath.directory(of: destination))
    }
}

/// The C `rename`, named apart so `AtomicFile.rename` does not shadow it.
private func posixRename(_ source: String, _ destination: String) -> Int32 {
    rename(source, destination)
}

/// A buffered sequential writer over a file descriptor, handed to ``AtomicFile/write(to:_:)`` bodies; it keeps
/// the ``CRC32C`` of what it was given, computed while the bytes are in cache.
///
/// Small writes are gathered into a 1 MiB buffer; larger ones go to the file straight from the caller's memory,
/// a megabyte at a time, each megabyte checksummed just before it is written.
public struct FileSink {
    private let descriptor: Int32
    private let path: String
    private var buffer: [UInt8] = []
    /// Bytes written so far (buffered or not): the offset of the next byte in the file.
    public private(set) var offset = 0
    /// The checksum of every byte written so far.
    public private(set) var checksum = CRC32C()
    private static let capacity = 1 << 20

    fileprivate init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
        buffer.reserveCapacity(Self.capacity)
    }

    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        offset += bytes.count
        if buffer.count + bytes.count > Self.capacity { try flush() }
        guard bytes.count >= Self.capacity else {
            checksum.update(bytes)
            buffer.append(contentsOf: bytes)
            return
        }
        var start = 0
        while start < bytes.count {
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[start..<min(start + Self.capacity, bytes.count)])
            checksum.update(chunk)
            try writeFully(chunk)
            start += chunk.count
        }
    }

    public mutating func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public mutating func write<T: FixedWidthInteger>(littleEndian value: T) throws {
        try withUnsafeBytes(of: value.littleEndian) { try write($0) }
    }

    /// Writes zero bytes until the offset is a multiple of `alignment`.
    public mutating func pad(toMultipleOf alignment: Int, with byte: UInt8 = 0) throws {
        let padding = (alignment - offset % alignment) % alignment
        if padding > 0 { try write([UInt8](repeating: byte, count: padding)) }
    }

    public mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeFully($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = posixWrite(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileWriteError(path: path, operation: "write")
            }
            done += n
        }
    }
}

/// The C `write`, named apart so `FileSink.write` does not shadow it.
private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}

/// A file that could not be written; the destination, if it existed, is unchanged.
public struct FileWriteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file being written (or its temporary sibling).
    public let path: String
    /// The system call that failed: open, write, fsync, close or rename.
    public let operation: String
    /// The system's explanation (`strerror(errno)`).
    public let message: String

    /// The failure of `operation` on `path` just now (the message from `errno`).
    public init(path: String, operation: String) {
        self.path = path
        self.operation = operation
        self.message = String(cString: strerror(errno))
    }

    public var description: String { "could not write \(path): \(operation) failed: \(message)" }
}

/// Path arithmetic the writers need.
public enum FilePath {
    /// The directory part of `path` ("." when there is none).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
