import Testing
import TesseraTensor

/// `Kernels.argmax` (greedy decoding's pick over the vocabulary) returns the index the plain scalar scan returns, for
/// every length and for ties, NaNs, signed zeros and infinities; a scan that keeps the last of equal maxima is caught.
@Suite struct ArgmaxTests {
    /// The scan greedy sampling used before the vector kernel: the first index whose value beats every earlier one.
    static func scan(_ x: [Float], keepingLastTie: Bool = false) -> Int {
        var best = 0
        for i in 1..<x.count where x[i] > x[best] || (keepingLastTie && x[i] == x[best]) { best = i }
        return best
    }

    /// Lengths around the 16-lane vectors and the two-vector loop, and SmolLM2's vocabulary.
    static let lengths = [1, 2, 15, 16, 17, 31, 32, 33, 47, 100, 1_000, 49_152]

    /// Values of `count` random numbers, with the maximum `copies` times at seeded places when `copies > 0`.
    static func values(_ count: Int, seed: UInt64, copies: Int = 0) -> [Float] {
        let random = DeterministicRandom(seed: seed, stream: "argmax")
        var x = (0..<count).map { random.normal(at: $0) }
        for c in 0..<copies { x[Int(Double(random.uniform(at: count + c)) * Double(count)) % count] = 10 }
        return x
    }

    @Test(arguments: lengths)
    func matchesTheScalarScanOnRandomValuesAndTies(count: Int) {
        for (seed, copies) in [(1, 0), (2, 1), (3, 2), (4, 5)] as [(UInt64, Int)] {
            let x = Self.values(count, seed: seed, copies: copies)
            #expect(Kernels.argmax(x, count: count) == Self.scan(x), "\(count) values, \(copies) tied maxima")
        }
        let equal = [Float](repeating: -3, count: count)
        #expect(Kernels.argmax(equal, count: count) == 0)
    }

    @Test(arguments: lengths)
    func matchesTheScalarScanOnNaNsZerosAndInfinities(count: Int) {
        var cases: [[Float]] = [[Float](repeating: .nan, count: count), [Float](repeating: -.infinity, count: count)]
        var zeros = [Float](repeating: -1, count: count)
        for i in stride(from: count / 3, to: count, by: max(1, count / 4)) { zeros[i] = i % 2 == 0 ? 0 : -0.0 }
        cases.append(zeros)
        var nanFirst = Self.values(count, seed: 5, copies: 1)
        nanFirst[0] = .nan
        cases.append(nanFirst)
        var nansInside = Self.values(count, seed: 6, copies: 2)
        for i in stride(from: 1, to: count, by: 7) { nansInside[i] = .nan }
        cases.append(nansInside)
        var infinite = Self.values(count, seed: 7)
        infinite[count - 1] = .infinity
        infinite[count / 2] = .infinity
        cases.append(infinite)
        var negativeInfinityFirst = [Float](repeating: .nan, count: count)
        negativeInfinityFirst[0] = -.infinity
        cases.append(negativeInfinityFirst)
        for (c, x) in cases.enumerated() {
            #expect(Kernels.argmax(x, count: count) == Self.scan(x), "case \(c), \(count) values")
        }
    }

    @Test func keepingTheLastOfEqualMaximaIsCaught() {
        let x = Self.values(1_000, seed: 2, copies: 3)
        #expect(Self.scan(x, keepingLastTie: true) != Kernels.argmax(x, count: x.count))
    }
}
