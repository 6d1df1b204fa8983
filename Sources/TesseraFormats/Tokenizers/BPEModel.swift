/// A byte-level BPE vocabulary and merge table, and the merge loop.
///
/// Every piece starts as one symbol per byte (the byte-level vocabulary holds all 256); then the adjacent pair
/// with the best (lowest) merge rank is merged, leftmost first, until no pair has a merge, as Hugging Face
/// `tokenizers` and OpenAI's encoder.py do.
struct BPEModel: Sendable {
    /// The token for each byte, or -1 when the vocabulary lacks it.
    let byteTokens: [Int32]
    /// `(left << 32 | right)` → `(rank << 32 | merged)`.
    private let merges: [UInt64: UInt64]
    /// Hugging Face `ignore_merges`: a piece that is itself a token is emitted whole (Llama 3).
    let wholePieceTokens: [[UInt8]: Int32]?
    /// For each byte without a token, Hugging Face's byte fallback: the `<0xXX>` tokens of the UTF-8 bytes of the
    /// byte-level character that stands for it (`Ġ`, the space, falls back to `<0xC4> <0xA0>`); empty when the
    /// vocabulary lacks them or byte fallback is off.
    let fallbackTokens: [[Int32]]
    let unknown: Int32?

    /// - Parameters:
    ///   - tokens: token id → byte-level spelling (nil for ids that are not byte-level, e.g. special tokens).
    ///   - merges: pairs of spellings in rank order.
    /// - Throws: a reason string for a merge whose parts or result are not in the vocabulary.
    init(ids: [String: Int32], merges pairs: [(String, String)], ignoreMerges: Bool, byteFallback: Bool,
         unknown: Int32?) throws(BPEModelError) {
        byteTokens = ByteLevel.characterForByte.map { ids[String($0)] ?? -1 }
        var merges = [UInt64: UInt64](minimumCapacity: pairs.count)
        for (rank, pair) in pairs.enumerated() {
            guard let left = ids[pair.0], let right = ids[pair.1] else {
                throw BPEModelError(reason: "merge \(rank) '\(pair.0) \(pair.1)' uses a token that is not in the vocabulary")
            }
            guard let merged = ids[pair.0 + pair.1] else {
                throw BPEModelError(reason: "merge \(rank) '\(pair.0) \(pair.1)' makes '\(pair.0 + pair.1)', which is not in the vocabulary")
            }
            let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
            // The first occurrence of a pair wins, as when Hugging Face builds its merge map.
            if merges[key] == nil { merges[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged)) }
        }
        self.merges = merges
        if ignoreMerges {
            var whole: [[UInt8]: Int32] = [:]
            for (spelling, id) in ids { if let bytes = ByteLevel.decode(spelling) { whole[bytes] = id } }
            wholePieceTokens = whole
        } else {
            wholePieceTokens = nil
        }
        fallbackTokens = (0..<256).map { byte in
            guard byteFallback else { return [] }
            let utf8 = String(ByteLevel.characterForByte[byte]).utf8
            let tokens = utf8.compactMap { ids[ByteFallback.spelling($0)] }
            return tokens.count == utf8.count ? tokens : []
        }
        self.unknown = unknown
    }

    /// Appends the tokens of one piece (raw bytes) to `out`.
    func encode(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) throws(TokenizerError) {
        if let wholePieceTokens, let id = wholePieceTokens[Array(piece)] {
            out.append(id)
            return
        }
        var symbols: [Int32] = []
        symbols.reserveCapacity(piece.count)
        for byte in piece {
            let id = byteTokens[Int(byte)]
            if id >= 0 {
                symbols.append(id)
            } else if !fallbackTokens[Int(byte)].isEmpty {
                symbols += fallbackTokens[Int(byte)]
            } else if let unknown {
                symbols.append(unknown)
            } else {
                throw TokenizerError.unencodable(text: String(decoding: piece, as: UTF8.self))
            }
        }
        mergeAll(&symbols)
        out.append(contentsOf: symbols)
    }

    /// Merges the best-ranked pair (all its non-overlapping occurrences, leftmost first) until none merges.
    private func mergeAll(_ symbols: inout [Int32]) {
        while symbols.count > 1 {
            var bestRank = UInt64.max, best: Int32 = -1
            var left = UInt64(UInt32(bitPattern: symbols[0]))
            for i in 1..<symbols.count {
                let right = UInt64(UInt32(bitPattern: symbols[i]))
                if let entry = merges[left << 32 | right], entry >> 32 < bestRank {
                    bestRank = entry >> 32
                    best = Int32(bitPattern: UInt32(truncatingIfNeeded: entry))
                }
                left = right
            }
            guard best >= 0 else { return }
            var write = 0, read = 0
            while read < symbols.count {
                if read + 1 < symbols.count,
                   let entry = merges[UInt64(UInt32(bitPattern: symbols[read])) << 32 | UInt64(UInt32(bitPattern: symbols[read + 1]))],
                   entry >> 32 == bestRank {
                    symbols[write] = best
                    read += 2
                } else {
                    symbols[write] = symbols[read]
                    read += 1
                }
                write += 1
            }
            symbols.removeLast(read - write)
        }
    }
}

struct BPEModelError: Error {
    let reason: String
}

/// SentencePiece-style byte fallback tokens, `<0x41>` for byte 0x41.
enum ByteFallback {
    static func spelling(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
    }
}
