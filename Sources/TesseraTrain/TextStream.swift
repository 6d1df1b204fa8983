/// Turns the growing bytes of a generated continuation into text pieces that never split a UTF-8 character, so a
/// continuation can be printed token by token (a byte-level token may end inside a character).
public struct TextStream: Sendable {
    /// Bytes already handed out.
    private var emitted = 0

    public init() {}

    /// The text of `bytes` (the whole continuation so far) after what was handed out, up to the last complete
    /// character; invalid sequences become U+FFFD.
    public mutating func next(_ bytes: [UInt8]) -> String {
        let end = Self.completePrefix(bytes)
        guard end > emitted else { return "" }
        defer { emitted = end }
        return String(decoding: bytes[emitted..<end], as: UTF8.self)
    }

    /// Everything not yet handed out, complete or not.
    public mutating func finish(_ bytes: [UInt8]) -> String {
        guard bytes.count > emitted else { return "" }
        defer { emitted = bytes.count }
        return String(decoding: bytes[emitted...], as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a multi-byte character.
    static func completePrefix(_ bytes: [UInt8]) -> Int {
        // Look back at most 3 bytes for the lead byte of the last character.
        var i = bytes.count - 1
        while i >= 0, i >= bytes.count - 4, bytes[i] & 0b1100_0000 == 0b1000_0000 { i -= 1 }
        guard i >= 0 else { return bytes.count }
        let lead = bytes[i]
        let length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return bytes.count - i < length ? i : bytes.count
    }
}
