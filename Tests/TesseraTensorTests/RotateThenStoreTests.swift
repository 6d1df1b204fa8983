import Testing
import TesseraTensor

/// `CPUBackend.rotate(_:rowStride:queryHeads:keyHeads:positions:tokens:with:thenStoringKeys:)`, which rotates a
/// decoding step's queries on one thread while another rotates and stores its keys: for 1 to 100 rows of SmolLM2's
/// fused query-key-value width, on pools of 1 to 4 threads, the rows hold the bits of rotating every head at once and
/// the store reads the rotated keys and the values; a store that ran before the keys were rotated is caught.
@Suite struct RotateThenStoreTests {
    static let headDim = 64, queryHeads = 9, keyHeads = 3, valueHeads = 3
    static let width = (queryHeads + keyHeads + valueHeads) * headDim
    /// Angles cached for positions below 64; the others are computed on the fly.
    static let rotary = RotaryEmbedding(headDim: headDim, theta: 10_000, cachedPositions: 64)

    static func rows(_ tokens: Int) -> [Float] {
        let random = DeterministicRandom(seed: 3, stream: "rotate then store")
        return (0..<tokens * width).map { random.normal(at: $0) }
    }

    static func positions(_ tokens: Int) -> [Int32] { (0..<tokens).map { Int32(($0 * 37) % 100) } }

    /// The key and value columns of every row, what a key/value store reads.
    static func keysAndValues(_ rows: UnsafePointer<Float>, tokens: Int) -> [Float] {
        (0..<tokens).flatMap { t in UnsafeBufferPointer(start: rows + t * width + queryHeads * headDim, count: (keyHeads + valueHeads) * headDim) }
    }

    /// Every head rotated on one thread, and the keys and values read after it.
    static func reference(_ tokens: Int) -> (rows: [Float], stored: [Float]) {
        var rows = Self.rows(tokens)
        let positions = Self.positions(tokens)
        CPUBackend.serial.rotate(&rows, rowStride: width, heads: queryHeads + keyHeads, positions: positions, tokens: tokens,
                                 inverse: false, with: rotary)
        return (rows, keysAndValues(rows, tokens: tokens))
    }

    @Test(arguments: [1, 2, 3, 4])
    func equalsRotatingEveryHeadThenStoring(threads: Int) {
        let backend = CPUBackend(pool: ComputePool(threads: threads))
        for tokens in [1, 2, 8, 40, 100] {
            var rows = Self.rows(tokens), stored: [Float] = []
            let positions = Self.positions(tokens)
            rows.withUnsafeMutableBufferPointer { r in
                backend.rotate(r.baseAddress!, rowStride: Self.width, queryHeads: Self.queryHeads, keyHeads: Self.keyHeads,
                               positions: positions, tokens: tokens, with: Self.rotary) {
                    stored = Self.keysAndValues(r.baseAddress!, tokens: tokens)
                }
            }
            let reference = Self.reference(tokens)
            #expect(rows == reference.rows, "\(tokens) rows on \(threads) threads")
            #expect(stored == reference.stored, "\(tokens) rows on \(threads) threads")
        }
    }

    @Test func aStoreBeforeTheKeysRotateIsCaught() {
        let early = Self.keysAndValues(Self.rows(8), tokens: 8)
        #expect(early != Self.reference(8).stored)
    }
}
