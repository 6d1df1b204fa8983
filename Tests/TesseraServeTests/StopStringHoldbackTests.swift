import Testing
import TesseraServe

/// Stop strings are cut and never leak while the text streams, whatever the pieces.
@Suite struct StopStringHoldbackTests {
    /// Feeds `pieces` and returns each release and the final flush.
    func stream(_ pieces: [String], stops: [String]) -> (releases: [String], final: String, stopped: Bool) {
        var holdback = StopStringHoldback(stops)
        let releases = pieces.map { holdback.append($0) }
        return (releases, holdback.finish(), holdback.stopped)
    }

    @Test func aStopStringSplitOverPiecesIsCutAndNeverReleased() {
        let result = stream(["Hello ", "wor", "ld! and more"], stops: ["world"])
        #expect(result.releases == ["Hello ", "", ""])
        #expect(result.final == "")
        #expect(result.stopped)
        #expect(!result.releases.joined().contains("wor"))
    }

    @Test func heldBackTextIsReleasedWhenItTurnsOutNotToBeAStop() {
        let result = stream(["ab", "c", "d", "x"], stops: ["cde"])
        #expect(result.releases == ["ab", "", "", "cdx"])
        #expect(!result.stopped)
        let tail = stream(["ab", "cd"], stops: ["cde"])
        #expect(tail.releases.joined() + tail.final == "abcd")
    }

    @Test func theEarliestOfSeveralStopsWins() {
        let result = stream(["one two three"], stops: ["three", "two"])
        #expect(result.releases == ["one "])
    }

    @Test func everySplitOfATextGivesTheSameText() {
        let text = "The answer is 42.\nUser: next", stops = ["\nUser:", "42!"]
        let whole = stream([text], stops: stops)
        let expected = whole.releases.joined() + whole.final
        #expect(expected == "The answer is 42.")
        for cut in 1..<text.count {
            let pieces = [String(text.prefix(cut)), String(text.dropFirst(cut))]
            let split = stream(pieces, stops: stops)
            #expect(split.releases.joined() + split.final == expected)
            // No release ever ends with the start of a stop string that later completes.
            #expect(!split.releases.joined().contains("\nUser"))
        }
    }

    @Test func aHoldbackThatReleasedEverythingIsCaught() {
        // The check above must fail for a variant without holdback: releasing each piece at once leaks "\nUs".
        let pieces = ["The answer is 42.\nUs", "er: next"]
        #expect(pieces[0].contains("\nUs"))
        #expect(!stream(pieces, stops: ["\nUser:"]).releases.joined().contains("\nUs"))
    }

    @Test func multiByteCharactersSurvive() {
        let result = stream(["naïve ", "café ☕", " end"], stops: ["☕ e"])
        #expect(result.releases.joined() + result.final == "naïve café ")
    }
}
