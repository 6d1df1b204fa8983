/// Turns text into token ids and back.
///
/// `encode` never adds BOS/EOS by itself (``encode(_:addingSpecialTokens:)`` does, as the checkpoint asks);
/// special-token text in the input (`<|endoftext|>`, `<|im_start|>`) is matched as the special token, as Hugging
/// Face tokenizers do. `decode` throws for ids outside the vocabulary and replaces byte sequences that are not
/// UTF-8 (a token boundary inside a character) with U+FFFD, as Hugging Face does; ``decodeBytes(_:)`` gives the
/// exact bytes.
public protocol Tokenizer: Sendable {
    /// One past the largest id.
    var vocabularySize: Int { get }
    var specialTokens: SpecialTokens { get }

    /// - Throws: ``TokenizerError`` when the text cannot be encoded (a character without any token).
    func encode(_ text: String) throws -> [Int32]

    /// The bytes the ids stand for (special tokens as their text unless `skippingSpecialTokens`).
    /// - Throws: ``TokenizerError/idOutOfRange(id:vocabularySize:)``.
    func decodeBytes(_ ids: [Int32], skippingSpecialTokens: Bool) throws -> [UInt8]
}

/// The special tokens a tokenizer knows, and whether encoding adds BOS/EOS around a sequence.
public struct SpecialTokens: Sendable, Equatable {
    public var bos: Int32?
    public var eos: Int32?
    public var unknown: Int32?
    public var padding: Int32?
    /// Whether ``Tokenizer/encode(_:addingSpecialTokens:)`` puts `bos` first (GGUF `tokenizer.ggml.add_bos_token`,
    /// or a Hugging Face post-processor template that starts with it).
    public var addsBOS: Bool
    /// Whether it puts `eos` last.
    public var addsEOS: Bool

    public init(bos: Int32? = nil, eos: Int32? = nil, unknown: Int32? = nil, padding: Int32? = nil,
                addsBOS: Bool = false, addsEOS: Bool = false) {
        self.bos = bos
        self.eos = eos
        self.unknown = unknown
        self.padding = padding
        self.addsBOS = addsBOS
        self.addsEOS = addsEOS
    }
}

/// Input a tokenizer cannot process.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not UTF-8; `offset` is the first byte of the first invalid sequence.
    case invalidUTF8(offset: Int)
    /// A token id outside `0..<vocabularySize` (or a gap in the vocabulary).
    case idOutOfRange(id: Int32, vocabularySize: Int)
    /// Text containing a character no token covers (no byte fallback and no unknown token).
    case unencodable(text: String)
    /// A chat template Tessera does not recognize; `excerpt` is its beginning.
    case unsupportedChatTemplate(excerpt: String)
    /// A conversation the template cannot render (an unknown role, an empty conversation).
    case invalidConversation(reason: String)

    public var description: String {
        switch self {
        case let .invalidUTF8(offset):
            return "the text is not valid UTF-8 (first invalid byte at offset \(offset)); convert it to UTF-8 first"
        case let .idOutOfRange(id, size):
            return "token id \(id) is outside the vocabulary 0..<\(size)"
        case let .unencodable(text):
            return "no token covers '\(text)' and the tokenizer has neither byte fallback nor an unknown token"
        case let .unsupportedChatTemplate(excerpt):
            return "unrecognized chat template (supported: ChatML, Llama 3); it begins: \(excerpt)"
        case let .invalidConversation(reason):
            return "cannot render the conversation: \(reason)"
        }
    }
}

extension Tokenizer {
    /// Encodes UTF-8 bytes (e.g. a file's contents).
    /// - Throws: ``TokenizerError/invalidUTF8(offset:)`` for bytes that are not UTF-8.
    public func encode(utf8 bytes: [UInt8]) throws -> [Int32] {
        try encode(try Self.validatedText(bytes))
    }

    /// Encodes `text` and adds BOS/EOS as ``specialTokens`` asks when `addingSpecialTokens`.
    public func encode(_ text: String, addingSpecialTokens: Bool) throws -> [Int32] {
        var ids = try encode(text)
        guard addingSpecialTokens else { return ids }
        if specialTokens.addsBOS, let bos = specialTokens.bos { ids.insert(bos, at: 0) }
        if specialTokens.addsEOS, let eos = specialTokens.eos { ids.append(eos) }
        return ids
    }

    /// The exact bytes the ids stand for, special tokens included.
    public func decodeBytes(_ ids: [Int32]) throws -> [UInt8] {
        try decodeBytes(ids, skippingSpecialTokens: false)
    }

    /// The text the ids stand for; invalid UTF-8 (a token boundary inside a character) becomes U+FFFD.
    /// - Throws: ``TokenizerError/idOutOfRange(id:vocabularySize:)``.
    public func decode(_ ids: [Int32], skippingSpecialTokens: Bool = false) throws -> String {
        String(decoding: try decodeBytes(ids, skippingSpecialTokens: skippingSpecialTokens), as: UTF8.self)
    }

    static func validatedText(_ bytes: [UInt8]) throws -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        // Find the first invalid sequence to report its offset.
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while case let .scalarValue(scalar) = decoder.decode(&iterator) { offset += UTF8.width(scalar) }
        throw TokenizerError.invalidUTF8(offset: offset)
    }
}

/// Turns a stream of generated ids into text as it arrives: a character split across tokens is held back until
/// its last byte comes, so no U+FFFD appears mid-stream.
public struct StreamingDecoder {
    public let tokenizer: any Tokenizer
    public let skipsSpecialTokens: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: any Tokenizer, skippingSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        skipsSpecialTokens = skippingSpecialTokens
    }

    /// The text completed by `id` (empty while a character is unfinished).
    /// - Throws: ``TokenizerError/idOutOfRange(id:vocabularySize:)``.
    public mutating func append(_ id: Int32) throws -> String {
        pending += try tokenizer.decodeBytes([id], skippingSpecialTokens: skipsSpecialTokens)
        // Keep back an incomplete sequence at the end: at most 3 bytes, starting at a lead byte.
        var keep = 0
        for back in stride(from: 1, through: min(3, pending.count), by: 1) {
            let byte = pending[pending.count - back]
            if byte & 0xC0 == 0x80 { continue }  // continuation byte: look further back
            let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
            if length > back { keep = back }
            break
        }
        let ready = pending[..<(pending.count - keep)]
        let text = String(decoding: ready, as: UTF8.self)
        pending.removeFirst(ready.count)
        return text
    }

    /// Whatever is still held back (an unfinished character decodes to U+FFFD).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }
}
