#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `bytes` so that readers see the old file or the whole new one: a temporary file in the same
/// directory, flushed with `fsync`, then renamed over `path`. On failure `path` is left untouched.
/// - Throws: ``PipelineError/writeFailed(path:reason:)`` naming the failing system call and errno.
func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    func failure(_ operation: String) -> PipelineError {
        PipelineError.writeFailed(path: path, reason: "\(operation): \(String(cString: strerror(errno)))")
    }
    let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw failure("open") }
    var written = 0
    let complete = bytes.withUnsafeBytes { buffer -> Bool in
        while written < buffer.count {
            let count = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return false }
            written += count
        }
        return fsync(descriptor) == 0
    }
    let error = complete ? nil : failure(written < bytes.count ? "write" : "fsync")
    guard close(descriptor) == 0, error == nil, rename(temporary, path) == 0 else {
        let thrown = error ?? failure("close or rename")
        unlink(temporary)
        throw thrown
    }
}
