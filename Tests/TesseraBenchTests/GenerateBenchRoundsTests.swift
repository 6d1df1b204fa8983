import Foundation
import Testing
import TesseraBench

/// `tessera bench generate --repeats`: interleaved rounds, medians field by field, ratios of medians and the per-round
/// spread, on hand-made runs (no model, no peer).
@Suite struct GenerateBenchRoundsTests {
    typealias Run = GenerateBench.Run

    /// Runs with these decode rates, prefill rates and peak MiB, one per round.
    static func runs(_ decode: [Double], _ prefill: [Double], _ mebibytes: [Int]) -> [Run] {
        (0..<decode.count).map { GenerateBenchTests.run("T", decode: decode[$0], prefill: prefill[$0], mebibytes: mebibytes[$0]) }
    }

    /// Whether a line of `table` names `measure` and holds every one of `cells`.
    static func shows(_ table: String, _ measure: String, _ cells: [String]) -> Bool {
        table.split(separator: "\n").contains { line in line.contains(measure) && cells.allSatisfy { line.contains($0) } }
    }

    /// Three rounds of a model with the peer (batch 1, batch 8, tp 2) and of one without it whose tp row has no tp-1
    /// row, each run list passed through `choose` (the identity for the real report; a wrong choice for the checks
    /// that it would be caught).
    static func report(_ choose: ([Run]) -> [Run]) -> GenerateBenchReport {
        let single = runs([200, 120, 100], [300, 330, 310], [150, 170, 160]), peer = runs([100, 50, 80], [250, 240, 200], [250, 250, 250])
        let rows: [GenerateBenchReport.Row] = [
            .init(model: "m.gguf", threads: 2, tessera: choose(single), llamaCpp: choose(peer)),
            .init(model: "m.gguf", threads: 2, batch: 8, tessera: choose(runs([420, 480, 300], [300, 300, 300], [180, 180, 180])), llamaCpp: []),
            .init(model: "m.gguf", threads: 1, tp: 2, tessera: choose(runs([114, 150, 95], [280, 280, 280], [160, 160, 160])), llamaCpp: []),
            .init(model: "n.gguf", threads: 2, tessera: choose(runs([90, 110, 100], [300, 300, 300], [150, 150, 150])), llamaCpp: []),
            .init(model: "n.gguf", threads: 1, tp: 4, tessera: choose(runs([60, 80, 70], [200, 200, 200], [150, 150, 150])), llamaCpp: []),
        ]
        return GenerateBenchReport(date: "2026-12-05", machine: "CPU, 2 cores", loadAverage: "1 1 1", command: "tessera bench generate",
                                   promptTokens: 512, decodeTokens: 256, kvCacheType: "f16", repeats: choose(single).count, rows: rows)
    }

    /// The medians' cells and ratios of ``report(_:)``'s rows (ratio of the medians, never a median of ratios).
    static let medianCells: [(String, [String])] = [
        ("decode tokens/s (batch 1)", ["120.0", "80.0", "1.50× llama.cpp"]),
        ("prefill tokens/s (512)", ["310.0", "240.0", "1.29× llama.cpp"]),
        ("peak RSS MiB ", ["160.0", "250.0", "0.64× llama.cpp"]),
        ("aggregate decode tokens/s (batch 8)", ["420.0", "3.50× batch 1"]),
        ("decode tokens/s (tp 2)", ["114.0", "0.95× tp 1"]),
    ]

    /// A round runs every setting once, in order, before the next round starts; each setting's results come back in
    /// round order. Batch and tp 1 leave their settings out.
    @Test func roundsInterleaveTheSettings() {
        let settings = GenerateBench.settings(threadCounts: [1, 2], batch: 8, tp: 2, peer: true)
        #expect(settings == [.init(threads: 1, withPeer: true), .init(threads: 2, withPeer: true), .init(threads: 2, batch: 8), .init(threads: 1, tp: 2)])
        #expect(GenerateBench.settings(threadCounts: [2], batch: 1, tp: 1, peer: false) == [.init(threads: 2)])
        var calls: [String] = []
        let results = GenerateBench.rounds(Array(settings.prefix(3)), repeats: 2) { setting, round in
            calls.append("\(setting.batch)x\(setting.threads)@\(round)")
            return calls.count
        }
        #expect(calls == ["1x1@0", "1x2@0", "8x2@0", "1x1@1", "1x2@1", "8x2@1"])
        #expect(results == [[1, 4], [2, 5], [3, 6]])
    }

    /// Every field is its own median: the middle of an odd count, the mean of the two middle values of an even one.
    @Test func medianRunTakesEachFieldsMedian() {
        let odd = Run.median(of: Self.runs([200, 120, 100], [300, 330, 310], [150, 170, 160]))
        #expect(odd.decodeTokensPerSecond == 120 && odd.prefillTokensPerSecond == 310 && odd.peakResidentBytes == 160 << 20)
        #expect(odd.decodeSeconds == 256.0 / 120 && odd.decodedTokens == 256 && odd.implementation == "T")
        let even = Run.median(of: Self.runs([100, 140], [300, 301], [150, 151]))
        #expect(even.decodeTokensPerSecond == 120 && even.prefillTokensPerSecond == 300.5 && even.peakResidentBytes == 301 << 19)
    }

    /// With three rounds each cell is the median, each ratio the ratio of the medians, and the last column the per-round
    /// ratios' range (or Tessera's values' range where the row has no reference: no peer, no tp-1 row).
    @Test func tableGivesMediansRatiosOfMediansAndTheSpread() {
        let table = Self.report { $0 }.table
        for (measure, cells) in Self.medianCells { #expect(Self.shows(table, measure, cells), "\(measure)") }
        #expect(Self.shows(table, "decode tokens/s (batch 1)", ["1.50× llama.cpp", "1.25–2.40×"]))
        #expect(Self.shows(table, "peak RSS MiB ", ["0.60–0.68×"]))
        #expect(Self.shows(table, "aggregate decode tokens/s (batch 8)", ["2.10–4.00×"]))
        #expect(Self.shows(table, "decode tokens/s (tp 2)", ["0.57–1.25×"]))
        #expect(Self.shows(table, "decode tokens/s (tp 4)", ["70.0", "–", "60.0–80.0"]))
        #expect(table.split(separator: "\n").contains { line in
            line.contains("n.gguf") && line.contains("decode tokens/s (batch 1)") && line.split(separator: " ").suffix(3) == ["–", "–", "90.0–110.0"]
        })
        #expect(table.contains("each setting run 3 times") && table.contains("min–max over rounds"))
    }

    /// Non-vacuity: a table of the rounds' means, or of round 1 alone, fails the same checks.
    @Test func meanOrFirstRoundInsteadOfMedianIsCaught() {
        func mean(_ runs: [Run]) -> [Run] {
            func average(_ field: (Run) -> Double) -> Double { runs.map(field).reduce(0, +) / Double(runs.count) }
            return [GenerateBenchTests.run("T", decode: average(\.decodeTokensPerSecond), prefill: average(\.prefillTokensPerSecond),
                                           mebibytes: Int(average { Double($0.peakResidentBytes >> 20) }))]
        }
        for wrong in [Self.report(mean).table, Self.report { [$0[0]] }.table] {
            #expect(!Self.shows(wrong, "decode tokens/s (batch 1)", Self.medianCells[0].1))
            #expect(!Self.shows(wrong, "aggregate decode tokens/s (batch 8)", Self.medianCells[3].1))
        }
    }

    /// With two rounds the median is the mean of both (not the upper middle, not round 1), and a row's ratio is the
    /// ratio of those means.
    @Test func evenRoundsTakeTheMeanOfTheTwoMiddles() {
        func report(_ choose: ([Run]) -> [Run]) -> String {
            GenerateBenchReport(date: "d", machine: "m", loadAverage: "l", command: "c", promptTokens: 512, decodeTokens: 256, kvCacheType: "f16",
                                repeats: 2, rows: [.init(model: "m.gguf", threads: 2, tessera: choose(Self.runs([100, 140], [300, 300], [150, 150])),
                                                         llamaCpp: choose(Self.runs([60, 100], [250, 250], [250, 250])))]).table
        }
        let cells = ["120.0", "80.0", "1.50× llama.cpp"]
        #expect(Self.shows(report { $0 }, "decode tokens/s (batch 1)", cells + ["1.40–1.67×"]))
        let upper: ([Run]) -> [Run] = { runs in [runs.max { $0.decodeTokensPerSecond < $1.decodeTokensPerSecond }!] }
        #expect(!Self.shows(report(upper), "decode tokens/s (batch 1)", cells))
        #expect(!Self.shows(report { [$0[0]] }, "decode tokens/s (batch 1)", cells))
    }

    /// The JSON keeps every run of every round next to the medians.
    @Test func jsonKeepsEveryRunAndTheMedians() throws {
        // The CLI writes snake_case keys (the runs' own keys already are; decoding them back needs the default keys).
        let snake = JSONEncoder()
        snake.keyEncodingStrategy = .convertToSnakeCase
        let text = String(decoding: try snake.encode(Self.report { $0 }), as: UTF8.self)
        #expect(text.contains(#""tessera_runs""#) && text.contains(#""llama_cpp_runs""#) && text.contains(#""repeats":3"#))
        let back = try JSONDecoder().decode(GenerateBenchReport.self, from: JSONEncoder().encode(Self.report { $0 }))
        #expect(back.rows[0].tesseraRuns.map(\.decodeTokensPerSecond) == [200, 120, 100] && back.rows[0].llamaCppRuns.count == 3)
        #expect(back.rows[0].tessera.decodeTokensPerSecond == 120 && back.rows[0].llamaCpp?.decodeTokensPerSecond == 80)
    }
}
