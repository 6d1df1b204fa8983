/// A token matched literally in the text before pre-tokenization (Hugging Face "added tokens"; GGUF control and
/// user-defined tokens): `<|endoftext|>`, `<|im_start|>`.
public struct AddedToken: Sendable, Equatable {
    public let id: Int32
    public let content: String
    /// Special tokens are dropped by `decode(…, skippingSpecialTokens: true)`.
    public let isSpecial: Bool
    /// Whitespace before (`stripsLeft`) or after (`stripsRight`) a match is absorbed into the token.
    public let stripsLeft: Bool
    public let stripsRight: Bool

    public init(id: Int32, content: String, isSpecial: Bool, stripsLeft: Bool = false, stripsRight: Bool = false) {
        self.id = id
        self.content = content
        self.isSpecial = isSpecial
        self.stripsLeft = stripsLeft
        self.stripsRight = stripsRight
    }
}

/// Finds added tokens in text: at each position the longest token that matches, leftmost first
/// (Hugging Face's leftmost-longest matching).
struct AddedTokenMatcher: Sendable {
    /// Tokens grouped by first byte, longest first.
    private let byFirstByte: [[(bytes: [UInt8], token: AddedToken)]]
    /// Bit `b` is set when some token starts with byte `b` (a quick test before the lookup).
    private let firstBytes: (UInt64, UInt64, UInt64, UInt64)
    let isEmpty: Bool

    init(_ tokens: [AddedToken]) {
        var groups = [[(bytes: [UInt8], token: AddedToken)]](repeating: [], count: 256)
        for token in tokens where !token.content.isEmpty {
            let bytes = Array(token.content.utf8)
            groups[Int(bytes[0])].append((bytes, token))
        }
        byFirstByte = groups.map { $0.sorted { $0.bytes.count > $1.bytes.count } }
        var bits: [UInt64] = [0, 0, 0, 0]
        for (byte, group) in groups.enumerated() where !group.isEmpty { bits[byte >> 6] |= 1 << UInt64(byte & 63) }
        firstBytes = (bits[0], bits[1], bits[2], bits[3])
        isEmpty = tokens.isEmpty
    }

    /// Splits `bytes` into plain segments (passed to `plain`) and added tokens (passed to `added`), in order.
    func split(_ bytes: UnsafeBufferPointer<UInt8>, plain: (Range<Int>) throws -> Void,
               added: (AddedToken) -> Void) rethrows {
        var segmentStart = 0, i = 0
        while i < bytes.count {
            guard let match = longestMatch(bytes, at: i) else {
                i += 1
                continue
            }
            var plainEnd = i
            if match.token.stripsLeft {
                while plainEnd > segmentStart, Self.isSpace(bytes[plainEnd - 1]) { plainEnd -= 1 }
            }
            if plainEnd > segmentStart { try plain(segmentStart..<plainEnd) }
            added(match.token)
            i += match.bytes.count
            if match.token.stripsRight {
                while i < bytes.count, Self.isSpace(bytes[i]) { i += 1 }
            }
            segmentStart = i
        }
        if segmentStart < bytes.count { try plain(segmentStart..<bytes.count) }
    }

    private func longestMatch(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (bytes: [UInt8], token: AddedToken)? {
        let b = bytes[i]
        let word = switch b >> 6 {
        case 0: firstBytes.0
        case 1: firstBytes.1
        case 2: firstBytes.2
        default: firstBytes.3
        }
        guard word & (1 << UInt64(b & 63)) != 0 else { return nil }
        for candidate in byFirstByte[Int(bytes[i])] where candidate.bytes.count <= bytes.count - i {
            var k = 1
            while k < candidate.bytes.count, bytes[i + k] == candidate.bytes[k] { k += 1 }
            if k == candidate.bytes.count { return candidate }
        }
        return nil
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
}
