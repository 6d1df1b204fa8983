import Foundation
import Testing
import TesseraTrain

/// The id cache: built once, reused while the text and tokenizer are unchanged, rebuilt otherwise.
@Suite struct TokenCacheTests {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "tessera-cache-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func write(_ text: String, to name: String) throws -> String {
        let path = directory + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A byte-level encoder that counts its calls.
    final class CountingEncoder: @unchecked Sendable {
        var calls = 0
        func encode(_ text: String) -> [Int32] {
            calls += 1
            return text.utf8.map { Int32($0) }
        }
    }

    func setModificationTime(_ path: String, seconds: Int) {
        var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, path, &times, 0)
    }

    @Test func tokenizesOnceThenReadsTheCache() throws {
        let path = try write("hello", to: "a.txt")
        let encoder = CountingEncoder()
        let first = try TokenCache.load(textFile: path, tokenizerFingerprint: "byte", encode: encoder.encode)
        #expect(first.ids == [104, 101, 108, 108, 111])
        #expect(first.status == .rebuilt(reason: "no cache yet"))
        #expect(FileManager.default.fileExists(atPath: path + ".tessera-ids"))
        let second = try TokenCache.load(textFile: path, tokenizerFingerprint: "byte", encode: encoder.encode)
        #expect(second.ids == first.ids && second.status == .hit && encoder.calls == 1)
    }

    @Test func aChangedTextIsTokenizedAgain() throws {
        let path = try write("hello", to: "b.txt")
        setModificationTime(path, seconds: 1_000_000)
        let encoder = CountingEncoder()
        _ = try TokenCache.load(textFile: path, tokenizerFingerprint: "byte", encode: encoder.encode)
        // Same size and the same modification time: only the content hash can notice.
        _ = try write("jello", to: "b.txt")
        setModificationTime(path, seconds: 1_000_000)
        let changed = try TokenCache.load(textFile: path, tokenizerFingerprint: "byte", encode: encoder.encode)
        #expect(changed.ids.first == 106)
        #expect(changed.status == .rebuilt(reason: "the text changed since it was tokenized"))
        // A new modification time alone also invalidates.
        setModificationTime(path, seconds: 2_000_000)
        let touched = try TokenCache.load(textFile: path, tokenizerFingerprint: "byte", encode: encoder.encode)
        #expect(touched.status == .rebuilt(reason: "the text changed since it was tokenized") && encoder.calls == 3)
    }

    @Test func anotherTokenizerIsNotServedTheOldIds() throws {
        let path = try write("hello", to: "c.txt")
        _ = try TokenCache.load(textFile: path, tokenizerFingerprint: "byte", encode: CountingEncoder().encode)
        let other = try TokenCache.load(textFile: path, tokenizerFingerprint: "gpt2:1234") { _ in [7] }
        #expect(other.ids == [7] && other.status == .rebuilt(reason: "it was tokenized with another tokenizer"))
    }

    @Test func aDamagedCacheIsRebuiltNotTrusted() throws {
        let path = try write("hello world", to: "d.txt")
        _ = try TokenCache.load(textFile: path, tokenizerFingerprint: "byte", encode: CountingEncoder().encode)
        let cache = path + ".tessera-ids"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: cache))
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: cache))
        let reloaded = try TokenCache.load(textFile: path, tokenizerFingerprint: "byte", encode: CountingEncoder().encode)
        #expect(reloaded.status == .rebuilt(reason: "\(cache) is truncated") && reloaded.ids.count == 11)
        try Data("not a cache at all".utf8).write(to: URL(fileURLWithPath: cache))
        let foreign = try TokenCache.load(textFile: path, tokenizerFingerprint: "byte", encode: CountingEncoder().encode)
        #expect(foreign.status == .rebuilt(reason: "\(cache) is not a Tessera id cache"))
    }

    @Test func aCacheDirectoryKeepsTextsApart() throws {
        let cacheDirectory = directory + "/cache"
        let one = try write("one", to: "same.txt")
        try FileManager.default.createDirectory(atPath: directory + "/sub", withIntermediateDirectories: true)
        let two = try write("two!", to: "sub/same.txt")
        #expect(TokenCache.cachePath(forText: one, cacheDirectory: cacheDirectory)
                != TokenCache.cachePath(forText: two, cacheDirectory: cacheDirectory))
        let a = try TokenCache.load(textFile: one, tokenizerFingerprint: "byte", cacheDirectory: cacheDirectory, encode: CountingEncoder().encode)
        let b = try TokenCache.load(textFile: two, tokenizerFingerprint: "byte", cacheDirectory: cacheDirectory, encode: CountingEncoder().encode)
        #expect(a.ids.count == 3 && b.ids.count == 4)
        #expect(!FileManager.default.fileExists(atPath: one + ".tessera-ids"))
        #expect(try TokenCache.load(textFile: one, tokenizerFingerprint: "byte", cacheDirectory: cacheDirectory,
                                    encode: CountingEncoder().encode).status == .hit)
    }

    @Test func badFilesGiveOneLineErrorsNamingTheFile() throws {
        let missing = directory + "/missing.txt"
        #expect(throws: TrainingError.unreadableData(path: missing, reason: "no such file")) {
            try TokenCache.load(textFile: missing, tokenizerFingerprint: "byte", encode: CountingEncoder().encode)
        }
        #expect(throws: TrainingError.unreadableData(path: directory, reason: "it is a directory")) {
            try TokenCache.load(textFile: directory, tokenizerFingerprint: "byte", encode: CountingEncoder().encode)
        }
        let latin1 = directory + "/latin1.txt"
        try Data([0x63, 0x61, 0x66, 0xE9, 0x21]).write(to: URL(fileURLWithPath: latin1))  // "café!" in Latin-1
        #expect(throws: TrainingError.invalidUTF8(path: latin1, offset: 3)) {
            try TokenCache.load(textFile: latin1, tokenizerFingerprint: "byte", encode: CountingEncoder().encode)
        }
        let message = "\(TrainingError.invalidUTF8(path: latin1, offset: 3))"
        #expect(message.hasPrefix(latin1) && message.contains("iconv") && !message.contains("\n"))
    }

    @Test func theContentHashSeesEveryByte() {
        var bytes = [UInt8](repeating: 0, count: 37)
        let base = bytes.withUnsafeBytes { ContentHash.of($0) }
        for i in bytes.indices {
            bytes[i] = 1
            #expect(bytes.withUnsafeBytes { ContentHash.of($0) } != base, "byte \(i) did not change the hash")
            bytes[i] = 0
        }
        #expect(bytes.prefix(36).withUnsafeBytes { ContentHash.of($0) } != base)
    }
}
