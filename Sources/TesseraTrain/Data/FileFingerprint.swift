import Foundation

/// What identifies one version of a file: its size, its modification time and a hash of its content.
///
/// A cache built from a file stays valid only while all three match. Size and time catch the common
/// edit cheaply; the content hash catches a rewrite that kept both (a copy with `cp -p`, a touch-back).
public struct FileFingerprint: Sendable, Hashable, Codable {
    public var size: UInt64
    /// Modification time in nanoseconds since 1970.
    public var modificationTime: Int64
    /// ``ContentHash`` of the bytes.
    public var contentHash: UInt64

    public init(size: UInt64, modificationTime: Int64, contentHash: UInt64) {
        self.size = size
        self.modificationTime = modificationTime
        self.contentHash = contentHash
    }

    /// The fingerprint of `bytes` read from the file at `path` (whose size and time are read from the file system).
    /// - Throws: ``TrainingError/unreadableData(path:reason:)`` when the file cannot be examined.
    public init(path: String, bytes: UnsafeRawBufferPointer) throws {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw TrainingError.unreadableData(path: path, reason: String(cString: strerror(errno)))
        }
        self.init(size: UInt64(bytes.count),
                  modificationTime: Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec),
                  contentHash: ContentHash.of(bytes))
    }
}

/// A fast 64-bit hash of bytes for cache invalidation (not cryptographic).
///
/// Eight bytes at a time, each word mixed in with a multiply and rotate, the tail and the length folded
/// in at the end, and a SplitMix64 finalizer (Steele, Lea and Flood 2014). Hashing 4 MB takes about a
/// millisecond, so checking a corpus on every run is cheap.
public enum ContentHash {
    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hasher = ContentHasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// Hash of a string's UTF-8 bytes.
    public static func of(_ text: String) -> UInt64 {
        var copy = text
        return copy.withUTF8 { of(UnsafeRawBufferPointer($0)) }
    }

    static func finalize(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// ``ContentHash`` over bytes that arrive in pieces (a file as it is written): the same value as hashing them
/// all at once.
public struct ContentHasher {
    private var state: UInt64 = 0x243F_6A88_85A3_08D3
    /// Bytes not yet mixed in (fewer than 8), little-endian from bit 0.
    private var pending: UInt64 = 0
    private var pendingCount = 0
    private var total = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        total += bytes.count
        var i = 0
        while pendingCount > 0 && i < bytes.count {
            take(bytes[i])
            i += 1
        }
        let words = (bytes.count - i) / 8
        for w in 0..<words { mix(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i + 8 * w, as: UInt64.self))) }
        for byte in bytes[(i + 8 * words)...] { take(byte) }
    }

    /// The hash of every byte given so far.
    public func finalize() -> UInt64 {
        var copy = self
        copy.mix(pending)
        return ContentHash.finalize(copy.state ^ UInt64(total))
    }

    /// Adds one byte to the pending word, mixing it in once it holds 8.
    private mutating func take(_ byte: UInt8) {
        pending |= UInt64(byte) << (8 * UInt64(pendingCount))
        pendingCount += 1
        if pendingCount == 8 {
            mix(pending)
            pending = 0
            pendingCount = 0
        }
    }

    private mutating func mix(_ word: UInt64) {
        state = (state ^ (word &* 0x9E37_79B9_7F4A_7C15)).rotatedLeft(by: 29) &* 0xBF58_476D_1CE4_E5B9
    }
}

extension UInt64 {
    fileprivate func rotatedLeft(by count: UInt64) -> UInt64 { (self << count) | (self >> (64 - count)) }
}
