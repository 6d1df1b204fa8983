import TesseraFormats
import TesseraTrain

/// A token's log-probability as the responses show it: its text and bytes, and the alternatives'.
package struct LogprobEntry: Equatable {
    package var token: String
    package var bytes: [UInt8]
    /// `nil` for a prompt's first token, which nothing scores.
    package var logprob: Float?
    package var top: [(token: String, bytes: [UInt8], logprob: Float)]

    package init(token: String, bytes: [UInt8], logprob: Float?, top: [(token: String, bytes: [UInt8], logprob: Float)]) {
        (self.token, self.bytes, self.logprob, self.top) = (token, bytes, logprob, top)
    }

    /// `token`'s entry, each token by its text (special tokens by name) and bytes.
    package init(_ token: GeneratedToken, tokenizer: any Tokenizer) throws {
        func describe(_ id: Int32) throws -> (String, [UInt8]) {
            let raw = try tokenizer.decodeBytes([id], skippingSpecialTokens: false)
            return (String(decoding: raw, as: UTF8.self), raw)
        }
        let (text, raw) = try describe(token.id)
        self.init(token: text, bytes: raw, logprob: token.logprob, top: try token.top.map { alternative in
            let (text, raw) = try describe(alternative.id)
            return (text, raw, alternative.logprob)
        })
    }

    package static func == (a: LogprobEntry, b: LogprobEntry) -> Bool {
        a.token == b.token && a.bytes == b.bytes && a.logprob == b.logprob
            && a.top.map(\.token) == b.top.map(\.token) && a.top.map(\.logprob) == b.top.map(\.logprob)
    }
}

/// What a choice adds when a token arrives: released text, the token's log-probability, and whether a stop string
/// ended the choice.
package struct ChoiceUpdate {
    package var text: String
    package var logprob: LogprobEntry?
    package var stopped: Bool
}

/// The text of one choice as its tokens arrive: bytes joined into whole characters (a token may end inside one),
/// special tokens left out, stop strings held back and cut. Streamed and non-streamed responses both take their
/// text from here, so they are equal by construction.
package struct ChoiceText {
    private let tokenizer: any Tokenizer
    private var bytes: [UInt8] = []
    private var characters = TextStream()
    private var holdback: StopStringHoldback
    /// Tokens generated for this choice (those after a stop string included, as OpenAI counts them).
    private(set) var tokenCount = 0

    package init(tokenizer: any Tokenizer, stop: [String]) {
        self.tokenizer = tokenizer
        holdback = StopStringHoldback(stop)
    }

    package var stopped: Bool { holdback.stopped }

    /// Adds `token`; `logprobs` asks for its log-probability entry.
    package mutating func append(_ token: GeneratedToken) throws -> ChoiceUpdate {
        tokenCount += 1
        bytes += try tokenizer.decodeBytes([token.id], skippingSpecialTokens: true)
        let text = holdback.append(characters.next(bytes))
        return ChoiceUpdate(text: text, logprob: try entry(token), stopped: holdback.stopped)
    }

    /// The text held back at the end (an incomplete character, or the start of a stop string that never finished).
    package mutating func finish() -> String {
        holdback.append(characters.finish(bytes)) + holdback.finish()
    }

    private func entry(_ token: GeneratedToken) throws -> LogprobEntry? {
        token.logprob == nil ? nil : try LogprobEntry(token, tokenizer: tokenizer)
    }
}
