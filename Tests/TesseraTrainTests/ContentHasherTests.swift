import Testing
import TesseraTrain

/// A file hashed as it is written, piece by piece, gets the checksum of its bytes read back at once.
struct ContentHasherTests {
    @Test func piecesHashAsTheWhole() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 >> 3) }
        let whole = bytes.withUnsafeBytes { ContentHash.of($0) }
        for cuts in [[0, 1000], [3, 11, 500, 997], [1, 2, 3, 4, 5, 6, 7, 8, 9], [8, 16, 999], [7, 15, 23]] {
            var hasher = ContentHasher()
            var start = 0
            for end in cuts + [1000] where end >= start {
                bytes.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
                start = end
            }
            #expect(hasher.finalize() == whole, "cuts \(cuts)")
        }
        // Not vacuous: the same pieces in another order hash differently.
        var swapped = ContentHasher()
        bytes.withUnsafeBytes {
            swapped.update(UnsafeRawBufferPointer(rebasing: $0[500..<1000]))
            swapped.update(UnsafeRawBufferPointer(rebasing: $0[0..<500]))
        }
        #expect(swapped.finalize() != whole)
    }
}
