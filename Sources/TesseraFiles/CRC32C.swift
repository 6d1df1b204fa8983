import CIntrinsics

/// CRC-32C (Castagnoli: polynomial 0x1EDC6F41, reflected, initial value and final XOR 0xFFFFFFFF; the check value of
/// "123456789" is 0xE3069283), the checksum of checkpoint files, computed over bytes that arrive in pieces.
///
/// Chosen for speed where it matters (a checkpoint is gigabytes, hashed while written and checked on every load):
/// x86-64 CPUs since 2008 compute it with the SSE4.2 `crc32` instruction, run here in three interleaved streams at
/// about memory speed (`crc32c.h`); elsewhere a 256-entry table does a byte at a time. It detects every burst error
/// up to 32 bits and every odd number of flipped bits; it is no defence against deliberate tampering.
public struct CRC32C: Sendable, Hashable {
    /// The checksum of every byte given so far (0 for none).
    public private(set) var value: UInt32 = 0

    public init() {}

    /// The checksum of `bytes`.
    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    /// Adds `bytes` after those given so far.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        #if arch(x86_64)
        if Self.hasInstruction {
            value = ~tessera_crc32c_sse42(~value, base, bytes.count)
            return
        }
        #endif
        value = Self.portable(value, bytes)
    }

    /// The table-driven update any CPU runs (``update(_:)`` uses it where the instruction is missing).
    package static func portable(_ value: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var register = ~value
        for byte in bytes { register = table[Int((register ^ UInt32(byte)) & 0xFF)] ^ (register >> 8) }
        return ~register
    }

    /// `value` as eight lowercase hexadecimal digits.
    public var hexadecimal: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    private static let hasInstruction = tessera_crc32c_has_sse42() != 0

    /// The register after one byte `b` from a zero register, for each `b`.
    private static let table: [UInt32] = (0..<256).map { byte in
        (0..<8).reduce(UInt32(byte)) { r, _ in (r >> 1) ^ (r & 1 == 1 ? UInt32(TESSERA_CRC32C_POLYNOMIAL) : 0) }
    }
}
