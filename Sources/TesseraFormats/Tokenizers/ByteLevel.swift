/// GPT-2's reversible map from bytes to printable characters (`bytes_to_unicode` in OpenAI's encoder.py, used by
/// every byte-level BPE vocabulary): the printable Latin-1 bytes `!`…`~`, `¡`…`¬`, `®`…`ÿ` stand for themselves,
/// the other 68 bytes map in order to U+0100, U+0101, …, so a space is `Ġ` (U+0120) and a newline `Ċ` (U+010A).
enum ByteLevel {
    /// The character for each byte.
    static let characterForByte: [Unicode.Scalar] = {
        var result = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(byte) {
                result[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                result[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return result
    }()

    /// The byte for each mapped character, indexed by scalar value (all below U+0144); -1 for other characters.
    static let byteForCharacter: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in characterForByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    private static func isPrintable(_ byte: Int) -> Bool {
        (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
    }

    /// The byte-level spelling of raw bytes (what a vocabulary entry looks like).
    static func encode<S: Sequence<UInt8>>(_ bytes: S) -> String {
        var text = ""
        text.unicodeScalars.append(contentsOf: bytes.map { characterForByte[Int($0)] })
        return text
    }

    /// The raw bytes of a vocabulary entry, or `nil` if it holds a character outside the map.
    static func decode(_ token: String) -> [UInt8]? {
        let table = byteForCharacter
        var bytes: [UInt8] = []
        for scalar in token.unicodeScalars {
            let value = Int(scalar.value)
            guard value < table.count, table[value] >= 0 else { return nil }
            bytes.append(UInt8(table[value]))
        }
        return bytes
    }
}
