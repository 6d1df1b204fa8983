import Testing
import TesseraTensor

/// `CPUBackend.rotate(_:rowStride:queryHeads:keyHeads:positions:tokens:with:thenStoringKeys:)`, which shares a
/// decoding step's rows among threads (each rotating and storing its own) or a single row's heads (queries on one
/// thread, keys and the store on another): for 1 to 100 rows of SmolLM2's fused query-key-value width, on pools of 1
/// to 4 threads, the rows hold the bits of rotating every head at once and every row is stored exactly once, after its
/// keys were rotated; a store that ran before the keys were rotated is caught.
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

    /// Floats of a row's keys and values.
    static let keyValueWidth = (keyHeads + valueHeads) * headDim

    /// The key and value columns of every row, what a key/value store reads.
    static func keysAndValues(_ rows: UnsafePointer<Float>, tokens: Int) -> [Float] {
        (0..<tokens).flatMap { t in UnsafeBufferPointer(start: rows + t * width + queryHeads * headDim, count: keyValueWidth) }
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
        for tokens in [1, 2, 3, 8, 40, 100] {
            var rows = Self.rows(tokens), stored = [Float](repeating: .nan, count: tokens * Self.keyValueWidth)
            var times = [Int](repeating: 0, count: tokens)
            let positions = Self.positions(tokens)
            rows.withUnsafeMutableBufferPointer { r in
                stored.withUnsafeMutableBufferPointer { s in
                    times.withUnsafeMutableBufferPointer { n in
                        // Called with disjoint row ranges, possibly on several threads at once.
                        backend.rotate(r.baseAddress!, rowStride: Self.width, queryHeads: Self.queryHeads, keyHeads: Self.keyHeads,
                                       positions: positions, tokens: tokens, with: Self.rotary) { range in
                            for t in range {
                                n[t] += 1
                                let row = Self.keysAndValues(r.baseAddress! + t * Self.width, tokens: 1)
                                for (i, value) in row.enumerated() { s[t * Self.keyValueWidth + i] = value }
                            }
                        }
                    }
                }
            }
            let reference = Self.reference(tokens)
            #expect(rows == reference.rows, "\(tokens) rows on \(threads) threads")
            #expect(times.allSatisfy { $0 == 1 }, "\(tokens) rows on \(threads) threads: stored \(times)")
            #expect(stored == reference.stored, "\(tokens) rows on \(threads) threads")
        }
    }

    @Test func aStoreBeforeTheKeysRotateIsCaught() {
        let early = Self.keysAndValues(Self.rows(8), tokens: 8)
        #expect(early != Self.reference(8).stored)
    }
}
