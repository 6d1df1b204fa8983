import Foundation
import TesseraFormats
import TesseraFiles

/// The token ids of a text file, stored next to it (or in a cache directory) so the text is tokenized once.
///
/// File layout (little-endian): the 8-byte magic `TSRIDS01`; the source's ``FileFingerprint`` (size `u64`,
/// modification time `i64` nanoseconds, content hash `u64`); the tokenizer fingerprint (`u32` byte count, then
/// UTF-8); the id count `u64`; the ids as `i32`. A cache is used only when the magic, both fingerprints and the
/// file size all agree; anything else (a changed text, another tokenizer, a truncated or foreign file) makes
/// the text be tokenized again and the cache be rewritten atomically.
public enum TokenCache {
    /// The file name suffix of cache files (git-ignored).
    public static let fileExtension = "tessera-ids"
    static let magic = Array("TSRIDS01".utf8)

    /// What happened to the cache while loading.
    public enum Status: Sendable, Equatable {
        /// The ids came from a valid cache.
        case hit
        /// The text was tokenized and the cache (re)written; `reason` says why the old one was not used.
        case rebuilt(reason: String)
        /// The text was tokenized but the cache could not be written (e.g. a read-only directory).
        case notWritten(reason: String)
    }

    /// Where the cache of `textPath` lives: `TEXT.tessera-ids` beside the file, or, with a cache directory,
    /// `DIR/NAME-HASH.tessera-ids` where `HASH` is taken from the absolute path (two texts of the same name
    /// in different folders do not collide).
    public static func cachePath(forText textPath: String, cacheDirectory: String?) -> String {
        guard let cacheDirectory else { return "\(textPath).\(fileExtension)" }
        let absolute = URL(fileURLWithPath: textPath).standardizedFileURL.path
        let name = (absolute as NSString).lastPathComponent
        let tag = String(ContentHash.of(absolute), radix: 16)
        return (cacheDirectory as NSString).appendingPathComponent("\(name)-\(tag).\(fileExtension)")
    }

    /// The ids of the UTF-8 text file at `path`, from its cache when valid, otherwise from `encode`.
    ///
    /// - Parameters:
    ///   - tokenizerFingerprint: changes whenever `encode` would produce other ids (the tokenizer's kind and
    ///     a hash of the files that define it).
    ///   - encode: turns the whole text into ids.
    /// - Throws: ``TrainingError/unreadableData(path:reason:)``, ``TrainingError/invalidUTF8(path:offset:)``,
    ///   and whatever `encode` throws.
    public static func load(textFile path: String, tokenizerFingerprint: String, cacheDirectory: String? = nil,
                            encode: (String) throws -> [Int32]) throws -> (ids: [Int32], status: Status) {
        let bytes = try readFile(path)
        let fingerprint = try bytes.withUnsafeBytes { try FileFingerprint(path: path, bytes: $0) }
        let cache = cachePath(forText: path, cacheDirectory: cacheDirectory)
        let reason: String
        switch readCache(at: cache, source: fingerprint, tokenizer: tokenizerFingerprint) {
        case let .success(ids): return (ids, .hit)
        case let .failure(why): reason = why.text
        }
        let text = try decodeUTF8(bytes, path: path)
        let ids = try encode(text)
        do {
            try write(ids, to: cache, source: fingerprint, tokenizer: tokenizerFingerprint)
            return (ids, .rebuilt(reason: reason))
        } catch {
            return (ids, .notWritten(reason: "\(error)"))
        }
    }

    /// Reads a whole file.
    /// - Throws: ``TrainingError/unreadableData(path:reason:)`` naming why.
    static func readFile(_ path: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainingError.unreadableData(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw TrainingError.unreadableData(path: path, reason: "it is a directory") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw TrainingError.unreadableData(path: path, reason: "permission denied")
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw TrainingError.unreadableData(path: path, reason: error.localizedDescription)
        }
    }

    /// The bytes as a `String`.
    /// - Throws: ``TrainingError/invalidUTF8(path:offset:)`` with the offset of the first invalid sequence.
    static func decodeUTF8(_ bytes: Data, path: String) throws -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while case let .valid(scalar) = parser.parseScalar(from: &iterator) { offset += scalar.count }
        throw TrainingError.invalidUTF8(path: path, offset: offset)
    }

    private struct Stale: Error {
        let text: String
    }

    private static func readCache(at path: String, source: FileFingerprint, tokenizer: String) -> Result<[Int32], Stale> {
        guard let data = FileManager.default.contents(atPath: path) else { return .failure(Stale(text: "no cache yet")) }
        return data.withUnsafeBytes { raw -> Result<[Int32], Stale> in
            var reader = ByteReader(raw)
            guard let magic = reader.bytes(magic.count), Array(magic) == TokenCache.magic else {
                return .failure(Stale(text: "\(path) is not a Tessera id cache"))
            }
            guard let size = reader.integer(UInt64.self), let time = reader.integer(Int64.self),
                  let hash = reader.integer(UInt64.self), let length = reader.integer(UInt32.self),
                  let name = reader.bytes(Int(length)), let count = reader.integer(UInt64.self)
            else { return .failure(Stale(text: "\(path) is truncated")) }
            guard FileFingerprint(size: size, modificationTime: time, contentHash: hash) == source else {
                return .failure(Stale(text: "the text changed since it was tokenized"))
            }
            guard String(decoding: name, as: UTF8.self) == tokenizer else {
                return .failure(Stale(text: "it was tokenized with another tokenizer"))
            }
            guard count <= UInt64(Int.max / 4), reader.remaining == Int(count) * 4 else {
                return .failure(Stale(text: "\(path) is truncated"))
            }
            var ids = [Int32](repeating: 0, count: Int(count))
            ids.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[reader.offset...])) }
            for i in ids.indices { ids[i] = Int32(littleEndian: ids[i]) }
            return .success(ids)
        }
    }

    private static func write(_ ids: [Int32], to path: String, source: FileFingerprint, tokenizer: String) throws {
        var bytes = magic
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        append(source.size)
        append(source.modificationTime)
        append(source.contentHash)
        append(UInt32(tokenizer.utf8.count))
        bytes.append(contentsOf: tokenizer.utf8)
        append(UInt64(ids.count))
        bytes.reserveCapacity(bytes.count + ids.count * 4)
        for id in ids { append(id) }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try bytes.withUnsafeBytes { try AtomicWrite.write($0, to: path) }
    }
}

/// Sequential little-endian reads that return `nil` instead of reading past the end.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var remaining: Int { buffer.count - offset }

    mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer.SubSequence? {
        guard count >= 0, count <= remaining else { return nil }
        defer { offset += count }
        return buffer[offset..<offset + count]
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard let raw = bytes(MemoryLayout<T>.size) else { return nil }
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }
}
