#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen 2, …): added tokens are matched first, the rest is split by the
/// ``PreTokenizer`` and each piece's bytes are merged by rank.
///
/// Load one with ``init(encoderJSON:vocabBPE:)`` (GPT-2 files or a GPT-2 directory's `vocab.json`/`merges.txt`),
/// ``init(tokenizerJSON:)`` (Hugging Face) or ``init(gguf:)`` (the tokenizer stored in a GGUF file).
///
/// Encoding keeps a cache of pieces already merged for the duration of one call, so the tokenizer itself holds no
/// mutable state and can be shared between threads.
public struct BPETokenizer: Tokenizer {
    public let vocabularySize: Int
    public let specialTokens: SpecialTokens
    public let preTokenizer: PreTokenizer
    /// Tokens matched literally before pre-tokenization.
    public let addedTokens: [AddedToken]
    /// Hugging Face `ByteLevel(add_prefix_space: true)`: a space is put before text that does not start with one.
    public let addsPrefixSpace: Bool
    let model: BPEModel
    private let matcher: AddedTokenMatcher
    /// Bytes of each id (nil for gaps in the vocabulary).
    private let tokenBytes: [[UInt8]?]
    private let special: Set<Int32>

    /// - Parameters:
    ///   - vocabulary: byte-level spelling → id.
    ///   - merges: merge pairs in rank order.
    ///   - path: the file named in errors.
    /// - Throws: ``FormatError/invalidTokenizer(path:reason:)`` when merges or added tokens do not fit the vocabulary.
    init(path: String, vocabulary: [String: Int32], merges: [(String, String)], preTokenizer: PreTokenizer,
         addedTokens: [AddedToken], specialTokens: SpecialTokens, addsPrefixSpace: Bool = false,
         ignoreMerges: Bool = false, byteFallback: Bool = false) throws {
        do {
            model = try BPEModel(ids: vocabulary, merges: merges, ignoreMerges: ignoreMerges,
                                 byteFallback: byteFallback, unknown: specialTokens.unknown)
        } catch {
            throw FormatError.invalidTokenizer(path: path, reason: error.reason)
        }
        let largest = max(vocabulary.values.max() ?? -1, addedTokens.map(\.id).max() ?? -1)
        guard (vocabulary.values.min() ?? 0) >= 0, (addedTokens.map(\.id).min() ?? 0) >= 0 else {
            throw FormatError.invalidTokenizer(path: path, reason: "a token id is negative")
        }
        var bytes = [[UInt8]?](repeating: nil, count: Int(largest) + 1)
        for (spelling, id) in vocabulary {
            // The ByteLevel decoder maps every character back to its byte; byte-fallback tokens (`<0xC4>`) are
            // spelled in printable ASCII and so decode literally, as in Hugging Face.
            if let b = ByteLevel.decode(spelling) {
                bytes[Int(id)] = b
            } else {
                bytes[Int(id)] = Array(spelling.utf8)
            }
        }
        for token in addedTokens { bytes[Int(token.id)] = Array(token.content.utf8) }
        for id in [specialTokens.bos, specialTokens.eos, specialTokens.unknown, specialTokens.padding].compactMap({ $0 }) {
            guard Int(id) < bytes.count, bytes[Int(id)] != nil else {
                throw FormatError.invalidTokenizer(path: path, reason: "special token id \(id) is not in the vocabulary of \(bytes.count)")
            }
        }
        vocabularySize = bytes.count
        tokenBytes = bytes
        self.specialTokens = specialTokens
        self.preTokenizer = preTokenizer
        self.addedTokens = addedTokens
        self.addsPrefixSpace = addsPrefixSpace
        matcher = AddedTokenMatcher(addedTokens)
        special = Set(addedTokens.filter(\.isSpecial).map(\.id))
    }

    public func encode(_ text: String) throws -> [Int32] {
        var text = text
        if addsPrefixSpace, !text.hasPrefix(" ") { text = " " + text }
        return try text.utf8.withContiguousStorageIfAvailable { try encode(bytes: $0) }
            ?? Array(text.utf8).withUnsafeBufferPointer { try encode(bytes: $0) }
    }

    private func encode(bytes: UnsafeBufferPointer<UInt8>) throws -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(bytes.count / 3)
        var encoder = PieceEncoder(model: model, stages: preTokenizer.stages, scanner: UnicodeScanner(bytes: bytes))
        if matcher.isEmpty {
            try encoder.encode(0..<bytes.count, into: &out)
        } else {
            try matcher.split(bytes, plain: { try encoder.encode($0, into: &out) }, added: { out.append($0.id) })
        }
        return out
    }

    public func decodeBytes(_ ids: [Int32], skippingSpecialTokens: Bool) throws -> [UInt8] {
        var out: [UInt8] = []
        for id in ids {
            guard id >= 0, Int(id) < tokenBytes.count, let bytes = tokenBytes[Int(id)] else {
                throw TokenizerError.idOutOfRange(id: id, vocabularySize: vocabularySize)
            }
            if skippingSpecialTokens, special.contains(id) { continue }
            out += bytes
        }
        return out
    }

    /// The id of a token given its text (special tokens by content, others by their raw bytes), if one exists.
    public func id(of token: String) -> Int32? {
        if let added = addedTokens.first(where: { $0.content == token }) { return added.id }
        let bytes = Array(token.utf8)
        return tokenBytes.firstIndex { $0 == bytes }.map(Int32.init)
    }
}

/// The state of one `encode` call: pre-tokenizer buffers and a cache of pieces already merged (a corpus repeats
/// its words), keyed by the piece's bytes in the input without copying them.
private struct PieceEncoder {
    let model: BPEModel
    let stages: [PreTokenizer]
    let scanner: UnicodeScanner
    var pieces: [Range<Int>] = []
    var scratch: [Range<Int>] = []
    var cache: [PieceKey: Range<Int>] = [:]
    /// The ids of every cached piece, back to back.
    var cached: [Int32] = []

    init(model: BPEModel, stages: [PreTokenizer], scanner: UnicodeScanner) {
        self.model = model
        self.stages = stages
        self.scanner = scanner
    }

    mutating func encode(_ range: Range<Int>, into out: inout [Int32]) throws {
        PreTokenizer.split(stages, scanner, range, into: &pieces, scratch: &scratch)
        let base = scanner.bytes.baseAddress!
        for piece in pieces {
            let key = PieceKey(start: base + piece.lowerBound, count: piece.count)
            if let hit = cache[key] {
                out.append(contentsOf: cached[hit])
                continue
            }
            let start = cached.count
            try model.encode(UnsafeBufferPointer(rebasing: scanner.bytes[piece]), into: &cached)
            cache[key] = start..<cached.count
            out.append(contentsOf: cached[start...])
        }
    }
}

/// Bytes of the input text, hashed and compared by content. Valid only while the text is (one `encode` call).
private struct PieceKey: Hashable {
    let start: UnsafePointer<UInt8>
    let count: Int

    static func == (a: PieceKey, b: PieceKey) -> Bool {
        a.count == b.count && (a.start == b.start || memcmp(a.start, b.start, a.count) == 0)
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(bytes: UnsafeRawBufferPointer(start: start, count: count))
    }
}
