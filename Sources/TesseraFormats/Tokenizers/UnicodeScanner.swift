/// The character classes the pre-tokenizer patterns distinguish: `\p{L}`, `\p{N}`, `\s` (the Unicode
/// White_Space property, as Oniguruma's `\s` in Hugging Face tokenizers) and everything else.
enum CharacterClass: UInt8 {
    case letter, number, whitespace, other
}

/// Scalar-level access to valid UTF-8 bytes, with a table for ASCII and the stdlib's Unicode properties beyond.
struct UnicodeScanner {
    let bytes: UnsafeBufferPointer<UInt8>

    /// The scalar starting at byte `i` and its length in bytes. The bytes must be valid UTF-8.
    @inline(__always)
    func scalar(at i: Int) -> (value: UInt32, length: Int) {
        let b0 = UInt32(bytes[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F), 2) }
        if b0 < 0xF0 {
            return ((b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F), 3)
        }
        return ((b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6
                | UInt32(bytes[i + 3] & 0x3F), 4)
    }

    @inline(__always)
    func characterClass(at i: Int) -> (CharacterClass, length: Int) {
        let b = bytes[i]
        if b < 0x80 { return (Self.asciiClass(b), 1) }
        let s = scalar(at: i)
        return (Self.classify(slow: s.value), s.length)
    }

    /// The class of an ASCII byte, as ``classify(slow:)`` gives it (U+001C…U+001F are not White_Space).
    @inline(__always)
    static func asciiClass(_ b: UInt8) -> CharacterClass {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case 0x09...0x0D, 0x20: return .whitespace
        default: return .other
        }
    }

    static func classify(slow value: UInt32) -> CharacterClass {
        guard let scalar = Unicode.Scalar(value) else { return .other }
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }
}
