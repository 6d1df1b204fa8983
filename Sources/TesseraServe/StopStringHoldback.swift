/// Releases generated text piece by piece while never releasing any part of a stop string: text that could be the
/// beginning of a stop string is held back until the next piece shows whether it is one. Works on UTF-8 bytes; pieces
/// must be whole characters (a stop string begins on a character boundary, so held-back text does too).
package struct StopStringHoldback {
    private let stops: [[UInt8]]
    private var pending: [UInt8] = []
    /// Whether a stop string was found (nothing more is released after it).
    package private(set) var stopped = false

    package init(_ stops: [String]) {
        self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    /// The text that can be released now that `piece` follows what came before: everything up to the first stop
    /// string once one appears, else everything but the longest ending that begins some stop string.
    package mutating func append(_ piece: String) -> String {
        guard !stopped else { return "" }
        pending += piece.utf8
        if let match = firstMatch() {
            stopped = true
            defer { pending.removeAll() }
            return String(decoding: pending[..<match], as: UTF8.self)
        }
        let keep = heldBackLength()
        let release = pending.count - keep
        defer { pending.removeFirst(release) }
        return String(decoding: pending[..<release], as: UTF8.self)
    }

    /// What was held back, at the end of the text (it turned out not to be a stop string).
    package mutating func finish() -> String {
        defer { pending.removeAll() }
        return stopped ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Where the earliest stop string in `pending` starts.
    private func firstMatch() -> Int? {
        var earliest: Int?
        for stop in stops where stop.count <= pending.count {
            for start in 0...(pending.count - stop.count) where earliest.map({ start < $0 }) ?? true {
                if pending[start..<start + stop.count].elementsEqual(stop) {
                    earliest = start
                    break
                }
            }
        }
        return earliest
    }

    /// Length of the longest ending of `pending` that is a proper beginning of some stop string.
    private func heldBackLength() -> Int {
        var longest = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, pending.count), to: longest, by: -1)
            where pending[(pending.count - length)...].elementsEqual(stop[..<length]) {
                longest = length
                break
            }
        }
        return longest
    }
}
