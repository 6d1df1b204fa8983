#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TesseraTensor

/// Writes a file so that readers see either the old file or the complete new one, never a torn write:
/// the bytes go to a temporary file in the same directory, which is flushed (`fsync`) and then renamed over
/// the destination; the directory is flushed too so the rename survives a crash.
///
/// If `body` throws, the temporary file is removed and the destination is left untouched.
enum AtomicFile {
    static func write(to path: String, _ body: (inout FileSink) throws -> Void) throws {
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileSystem.error(path: temporary, operation: "open") }
        var sink = FileSink(descriptor: fd, path: path)
        do {
            try body(&sink)
            try sink.flush()
            guard fsync(fd) == 0 else { throw FileSystem.error(path: temporary, operation: "fsync") }
            guard close(fd) == 0 else {
                unlink(temporary)
                throw FileSystem.error(path: temporary, operation: "close")
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let failure = FileSystem.error(path: path, operation: "rename")
            unlink(temporary)
            throw failure
        }
        let directory = open(FileSystem.directory(of: path), O_RDONLY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }
}

/// A buffered sequential writer over a file descriptor, handed to ``AtomicFile/write(to:_:)`` bodies.
struct FileSink {
    private let descriptor: Int32
    private let path: String
    private var buffer: [UInt8] = []
    /// Bytes written so far (buffered or not): the offset of the next byte in the file.
    private(set) var offset = 0
    private static let capacity = 1 << 20

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
        buffer.reserveCapacity(Self.capacity)
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        offset += bytes.count
        if buffer.count + bytes.count > Self.capacity { try flush() }
        if bytes.count >= Self.capacity {
            try writeFully(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    mutating func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    mutating func write<T: FixedWidthInteger>(littleEndian value: T) throws {
        try withUnsafeBytes(of: value.littleEndian) { try write($0) }
    }

    /// Writes zero bytes until the offset is a multiple of `alignment`.
    mutating func pad(toMultipleOf alignment: Int, with byte: UInt8 = 0) throws {
        let padding = (alignment - offset % alignment) % alignment
        if padding > 0 { try write([UInt8](repeating: byte, count: padding)) }
    }

    mutating func flush() throws {
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
                throw FileSystem.error(path: path, operation: "write")
            }
            done += n
        }
    }
}

/// The C `write`, named apart so `FileSink.write` does not shadow it.
private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}

extension FileSink {
    /// Writes `tensor`'s elements encoded as `dtype` (ggml block formats need a whole number of blocks).
    mutating func write(_ tensor: Tensor, as dtype: DType) throws {
        let chunk = 1 << 16  // elements per encoding pass; a multiple of every block size
        var scratch = [UInt8](repeating: 0, count: try dtype.byteCount(forElements: chunk))
        try tensor.withUnsafeBufferPointer { source in
            var start = 0
            while start < source.count {
                let count = min(chunk, source.count - start)
                let bytes = try dtype.byteCount(forElements: count)
                scratch.withUnsafeMutableBytes {
                    Quantization.encode(UnsafeBufferPointer(rebasing: source[start..<(start + count)]), as: dtype,
                                        into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<bytes]))
                }
                try scratch.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<bytes])) }
                start += count
            }
        }
    }
}
