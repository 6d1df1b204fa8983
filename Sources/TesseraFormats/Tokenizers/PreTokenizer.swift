/// Splits text into pieces before BPE, as Hugging Face pre-tokenizers and llama.cpp's pre-tokenizer regexes do.
///
/// The regexes are not run through a regex engine (Swift Regex is far too slow for a corpus): each known pattern
/// has a hand-written scanner that follows the regex's alternation order and backtracking exactly. A pattern
/// Tessera does not know is refused when the tokenizer is loaded, never approximated.
public indirect enum PreTokenizer: Sendable, Equatable {
    /// GPT-2's pattern: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// Llama 3's pattern (`maximumDigits: 3`) and Qwen 2's (`maximumDigits: 1`):
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    case llama3(maximumDigits: Int)
    /// Every `\p{N}` character on its own (Hugging Face `Digits(individual_digits: true)`), or runs of them (`false`).
    case digits(individual: Bool)
    /// The stages applied in order, each splitting the previous one's pieces.
    case sequence([PreTokenizer])
    /// No splitting.
    case none

    /// The regex text of a `Split` pre-tokenizer (or llama.cpp pre-tokenizer) that Tessera scans natively.
    static let knownPatterns: [String: PreTokenizer] = [
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#: .gpt2,
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .llama3(maximumDigits: 3),
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .llama3(maximumDigits: 1),
    ]

    /// The splitting steps in order, nested sequences flattened.
    var stages: [PreTokenizer] {
        switch self {
        case .none: return []
        case let .sequence(steps): return steps.flatMap(\.stages)
        case .gpt2, .llama3, .digits: return [self]
        }
    }

    /// Splits `range` into pieces (appended to `pieces`) that tile it. Every stage of a sequence is applied
    /// in turn to all pieces of the previous one; `scratch` is reused storage.
    static func split(_ stages: [PreTokenizer], _ scanner: UnicodeScanner, _ range: Range<Int>,
                      into pieces: inout [Range<Int>], scratch: inout [Range<Int>]) {
        pieces.removeAll(keepingCapacity: true)
        if !range.isEmpty { pieces.append(range) }
        for stage in stages {
            scratch.removeAll(keepingCapacity: true)
            for piece in pieces {
                var i = piece.lowerBound
                while i < piece.upperBound {
                    let end = stage.pieceEnd(scanner, from: i, limit: piece.upperBound)
                    scratch.append(i..<end)
                    i = end
                }
            }
            swap(&pieces, &scratch)
        }
    }

    /// The end of the piece that starts at `i` (the scanners never return an empty piece).
    private func pieceEnd(_ s: UnicodeScanner, from i: Int, limit: Int) -> Int {
        switch self {
        case .gpt2: return Self.gpt2PieceEnd(s, i, limit)
        case let .llama3(maximumDigits): return Self.llama3PieceEnd(s, i, limit, maximumDigits: maximumDigits)
        case let .digits(individual):
            let (cls, length) = s.characterClass(at: i)
            let isNumber = cls == .number
            var j = i + length
            // A run of numbers (or, between them, of anything else) stays together unless split individually.
            if isNumber && individual { return j }
            while j < limit {
                let (next, nextLength) = s.characterClass(at: j)
                if (next == .number) != isNumber { break }
                j += nextLength
            }
            return j
        case .sequence, .none: return limit
        }
    }

    /// Bytes of the contraction at `i` (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`), or 0.
    @inline(__always)
    private static func contractionLength(_ s: UnicodeScanner, _ i: Int, _ limit: Int, ignoringCase: Bool) -> Int {
        guard s.bytes[i] == UInt8(ascii: "'"), i + 1 < limit else { return 0 }
        func letter(_ k: Int) -> UInt8? {
            guard k < limit else { return nil }
            let b = s.bytes[k]
            return ignoringCase && b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b + 32 : b
        }
        switch letter(i + 1) {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"): return letter(i + 2) == UInt8(ascii: "e") ? 3 : 0
        case UInt8(ascii: "l"): return letter(i + 2) == UInt8(ascii: "l") ? 3 : 0
        default: return 0
        }
    }

    /// End of a run of characters of class `cls` starting at `j`.
    @inline(__always)
    private static func run(_ s: UnicodeScanner, _ j: Int, _ limit: Int, _ cls: CharacterClass, maximum: Int = .max) -> Int {
        var j = j, count = 0
        while j < limit, count < maximum {
            let (c, length) = s.characterClass(at: j)
            guard c == cls else { break }
            j += length
            count += 1
        }
        return j
    }

    /// `\s+(?!\S)|\s+` at `i` (a whitespace character): the whole run at the end of the text, otherwise the run
    /// without its last character (which then leads the next piece), but at least one character.
    @inline(__always)
    private static func whitespaceEnd(_ s: UnicodeScanner, _ i: Int, _ limit: Int) -> Int {
        var j = i, last = i
        while j < limit {
            let (c, length) = s.characterClass(at: j)
            guard c == .whitespace else { break }
            last = j
            j += length
        }
        if j == limit || last == i { return j }
        return last
    }

    private static func gpt2PieceEnd(_ s: UnicodeScanner, _ i: Int, _ limit: Int) -> Int {
        let contraction = contractionLength(s, i, limit, ignoringCase: false)
        if contraction > 0 { return i + contraction }
        var (cls, length) = s.characterClass(at: i)
        var start = i
        // ` ?X+`: a single space may lead a run of letters, numbers or other characters.
        if s.bytes[i] == UInt8(ascii: " "), i + 1 < limit {
            let next = s.characterClass(at: i + 1)
            if next.0 != .whitespace {
                start = i + 1
                (cls, length) = next
            }
        }
        switch cls {
        case .letter, .number, .other: return run(s, start + length, limit, cls)
        case .whitespace: return whitespaceEnd(s, i, limit)
        }
    }

    private static func isNewline(_ s: UnicodeScanner, _ j: Int) -> Bool {
        s.bytes[j] == 0x0A || s.bytes[j] == 0x0D
    }

    private static func llama3PieceEnd(_ s: UnicodeScanner, _ i: Int, _ limit: Int, maximumDigits: Int) -> Int {
        let contraction = contractionLength(s, i, limit, ignoringCase: true)
        if contraction > 0 { return i + contraction }
        let (cls, length) = s.characterClass(at: i)
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if cls == .letter { return run(s, i + length, limit, .letter) }
        if cls != .number, !isNewline(s, i), i + length < limit, s.characterClass(at: i + length).0 == .letter {
            return run(s, i + length, limit, .letter)
        }
        // `\p{N}{1,maximumDigits}`
        if cls == .number { return run(s, i, limit, .number, maximum: maximumDigits) }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var start = i, startClass = cls, startLength = length
        if s.bytes[i] == UInt8(ascii: " "), i + 1 < limit {
            let next = s.characterClass(at: i + 1)
            if next.0 == .other { (start, startClass, startLength) = (i + 1, next.0, next.length) }
        }
        if startClass == .other {
            var j = run(s, start + startLength, limit, .other)
            while j < limit, isNewline(s, j) { j += 1 }
            return j
        }
        // `\s*[\r\n]+`: the whitespace run up to and including its last newline.
        var j = i, afterLastNewline = -1
        while j < limit {
            let (c, l) = s.characterClass(at: j)
            guard c == .whitespace else { break }
            if isNewline(s, j) { afterLastNewline = j + 1 }
            j += l
        }
        if afterLastNewline > 0 { return afterLastNewline }
        return whitespaceEnd(s, i, limit)
    }
}
