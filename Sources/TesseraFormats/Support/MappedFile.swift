#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory: pages are read from disk only when touched, so opening a
/// checkpoint costs nothing per tensor and a rank that reads one slice touches only that slice.
///
/// The mapping is never written and lives as long as the object, which makes sharing it between threads safe.
/// Every access goes through ``bytes(in:)``, which checks the range against the file size.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// Size of the file in bytes.
    public let count: Int
    private let base: UnsafeRawPointer?

    /// Maps `path`. An empty file maps to an empty buffer.
    /// - Throws: ``FormatError/io(path:operation:message:)`` when the file cannot be opened or mapped.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystem.error(path: path, operation: "open") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw FileSystem.error(path: path, operation: "fstat") }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw FormatError.io(path: path, operation: "open", message: "not a regular file")
        }
        count = Int(status.st_size)
        if count == 0 {
            base = nil
            return
        }
        guard let pointer = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), pointer != MAP_FAILED else {
            throw FileSystem.error(path: path, operation: "mmap")
        }
        base = UnsafeRawPointer(pointer)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// Whether `range` lies inside the file.
    public func contains(_ range: Range<Int>) -> Bool {
        range.lowerBound >= 0 && range.upperBound <= count
    }

    /// The bytes in `range`.
    /// - Precondition: `contains(range)`; callers validate offsets from the file before asking (a failed check
    ///   here is a bug in the validation, not bad input).
    public func bytes(in range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(contains(range), "read \(range) outside \(path) of \(count) bytes")
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }
}
