/// One token per byte: ids 0...255 are the UTF-8 bytes of the text. No special tokens.
/// The `demo` model uses it: any text encodes, and the vocabulary is tiny.
public struct ByteTokenizer: Tokenizer {
    public init() {}

    public var vocabularySize: Int { 256 }
    public var specialTokens: SpecialTokens { SpecialTokens() }

    public func encode(_ text: String) throws -> [Int32] {
        text.utf8.map { Int32($0) }
    }

    public func decodeBytes(_ ids: [Int32], skippingSpecialTokens: Bool) throws -> [UInt8] {
        try ids.map { id in
            guard (0..<256).contains(id) else { throw TokenizerError.idOutOfRange(id: id, vocabularySize: 256) }
            return UInt8(id)
        }
    }
}
