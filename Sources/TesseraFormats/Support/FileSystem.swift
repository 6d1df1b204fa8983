#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TesseraFiles

/// The few file-system calls the formats need, each turning `errno` into a ``FormatError``.
enum FileSystem {
    static func error(path: String, operation: String) -> FormatError {
        FormatError.io(path: path, operation: operation, message: String(cString: strerror(errno)))
    }

    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }

    /// Creates `path` and its missing parents (like `mkdir -p`).
    static func createDirectory(_ path: String) throws {
        if isDirectory(path) { return }
        let parent = FilePath.directory(of: path)
        if parent != path, !parent.isEmpty { try createDirectory(parent) }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw error(path: path, operation: "mkdir") }
    }


    /// `directory/name`, without doubling the separator.
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The whole file as bytes (for small text files: tokenizer and index JSON).
    static func readAll(_ path: String) throws -> [UInt8] {
        let file = try MappedFile(path: path)
        return Array(file.bytes(in: 0..<file.count))
    }
}
