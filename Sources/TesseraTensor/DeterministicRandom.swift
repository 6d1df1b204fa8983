/// A counter-based random generator: the value at a global index depends only on
/// `(seed, stream, index)`, never on what was drawn before.
///
/// This is what makes sharded initialization equal the single-device one: a rank that owns rows
/// `r0..<r1` of a `[rows, cols]` weight draws indices `r0 * cols ..< r1 * cols` and gets exactly that
/// slice of the whole matrix. Streams are usually parameter names (`"model.layers.0.mlp.up_proj.weight"`).
///
/// The mixing function is SplitMix64 (Steele, Lea and Flood 2014) applied to
/// `key + index * golden-gamma`, where the key mixes the seed with a stable FNV-1a hash of the stream
/// name (Swift's `Hasher` is seeded per process and would not repeat across runs).
public struct DeterministicRandom: Sendable, Hashable {
    public let seed: UInt64
    public let stream: String
    private let key: UInt64

    public init(seed: UInt64, stream: String) {
        self.seed = seed
        self.stream = stream
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in stream.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        self.key = DeterministicRandom.mix(seed ^ DeterministicRandom.mix(hash))
    }

    /// 64 random bits for `index`.
    @inline(__always)
    public func bits(at index: UInt64) -> UInt64 {
        DeterministicRandom.mix(key &+ index &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    @inline(__always)
    public func uniform(at index: Int) -> Float {
        Float(bits(at: UInt64(index)) >> 40) * (1.0 / 16_777_216.0)
    }

    /// Standard normal at `index` (Box–Muller on two independent 32-bit halves of one draw).
    @inline(__always)
    public func normal(at index: Int) -> Float {
        let r = bits(at: UInt64(index))
        // u1 in (0, 1], u2 in [0, 1): avoid log(0).
        let u1 = (Double(r >> 32) + 1) * (1.0 / 4_294_967_296.0)
        let u2 = Double(r & 0xFFFF_FFFF) * (1.0 / 4_294_967_296.0)
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// Writes `mean + std * normal(at: i)` for each global index `i` in `indices` into `buffer`
    /// (`buffer[k]` receives index `indices.lowerBound + k`).
    public func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, indices: Range<Int>, mean: Float = 0, std: Float = 1) {
        precondition(buffer.count >= indices.count, "buffer of \(buffer.count) cannot hold \(indices.count) values")
        for (k, i) in indices.enumerated() { buffer[k] = mean + std * normal(at: i) }
    }

    /// Writes uniform values in `[low, high)` for each global index in `indices`.
    public func fillUniform(_ buffer: UnsafeMutableBufferPointer<Float>, indices: Range<Int>, low: Float = 0, high: Float = 1) {
        precondition(buffer.count >= indices.count, "buffer of \(buffer.count) cannot hold \(indices.count) values")
        for (k, i) in indices.enumerated() { buffer[k] = low + (high - low) * uniform(at: i) }
    }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Darwin
@inline(__always) private func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
