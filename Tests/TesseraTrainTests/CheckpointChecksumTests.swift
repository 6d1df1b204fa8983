import Testing
import TesseraFiles

/// The checksum of checkpoint files (CRC-32C) against a bit-at-a-time reference written from the definition.
struct CheckpointChecksumTests {
    /// CRC-32C from its definition: reflected polynomial 0x82F63B78, register starting at and finally XORed with
    /// 0xFFFFFFFF, one bit at a time.
    static func reference(_ bytes: [UInt8], polynomial: UInt32 = 0x82F6_3B78) -> UInt32 {
        var register: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            register ^= UInt32(byte)
            for _ in 0..<8 { register = (register >> 1) ^ (register & 1 == 1 ? polynomial : 0) }
        }
        return ~register
    }

    static func crc(_ bytes: ArraySlice<UInt8>) -> UInt32 { bytes.withUnsafeBytes { CRC32C.of($0) } }

    @Test func theCheckValueIsTheStandardOne() {
        #expect(Self.crc(Array("123456789".utf8)[...]) == 0xE306_9283)
        #expect(Self.reference(Array("123456789".utf8)) == 0xE306_9283)
        var empty = CRC32C()
        empty.update(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(empty.value == 0 && empty.hexadecimal == "00000000")
    }

    /// Lengths across the instruction path's alignment prologue, its three-lane blocks (3 × 16 KiB) and tail, at
    /// every starting alignment, whole and fed in two pieces; and the portable table path.
    @Test func everyLengthAlignmentAndSplitAgreesWithTheReference() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<(3 * 3 * 16384 + 64)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for length in [0, 1, 7, 8, 9, 63, 3 * 16384 - 1, 3 * 16384, 3 * 16384 + 13, 2 * 3 * 16384 + 8, 3 * 3 * 16384 + 17] {
            for start in 0..<8 {
                let slice = bytes[start..<start + length]
                let expected = Self.reference(Array(slice))
                #expect(Self.crc(slice) == expected, "length \(length) at \(start)")
                let cut = start + length / 3
                var pieces = CRC32C()
                bytes[start..<cut].withUnsafeBytes { pieces.update($0) }
                bytes[cut..<start + length].withUnsafeBytes { pieces.update($0) }
                #expect(pieces.value == expected, "length \(length) at \(start) in two pieces")
                #expect(slice.withUnsafeBytes { CRC32C.portable(0, $0) } == expected, "table path, length \(length)")
            }
        }
    }

    /// Not vacuous: one flipped bit changes the checksum, and a reference with another polynomial (CRC-32's
    /// 0xEDB88320) disagrees, so agreement above means the polynomial is Castagnoli's.
    @Test func aFlippedBitOrAnotherPolynomialIsCaught() {
        var bytes = Array(repeating: UInt8(0x5A), count: 3 * 16384 + 100)
        let clean = Self.crc(bytes[...])
        bytes[40_000] ^= 0x10
        #expect(Self.crc(bytes[...]) != clean)
        #expect(Self.reference(Array("123456789".utf8), polynomial: 0xEDB8_8320) != 0xE306_9283)
    }
}
