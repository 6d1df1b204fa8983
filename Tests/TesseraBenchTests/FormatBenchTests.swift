import Foundation
import Testing
import TesseraBench

@Suite struct FormatBenchTests {
    static func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-bench-\(UUID().uuidString).txt").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The byte tokenizer gives one token per byte: the measured token count is the text's length.
    @Test func tokenizeCountsTokensAndTimesTheFloor() throws {
        let path = try Self.temporaryFile(Array("In the beginning God created the heaven and the earth.\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let report = try TokenizeBench.measure(tokenizer: "byte", text: path, runs: 2, includePeer: false)
        #expect(report.bytes == 55 && report.tokens == 55 && report.runs == 2)
        #expect(report.seconds > 0 && report.utf8FloorSeconds > 0 && report.peerHFTokenizersSeconds == nil)
        #expect(report.table.contains("| seconds |"))
    }

    @Test func tokenizeRefusesTextThatIsNotUTF8() throws {
        let path = try Self.temporaryFile([0x41, 0xFF, 0x42])
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: BenchError.notUTF8(path: path)) {
            try TokenizeBench.measure(tokenizer: "byte", text: path, runs: 1, includePeer: false)
        }
        #expect(BenchError.notUTF8(path: "x.txt").description == "x.txt is not UTF-8")
    }

    @Test func loadTableMarksTheTargetAndMissingPeer() {
        let report = LoadBench.Report(model: "m.gguf", tensors: 3, elements: 1_000_000, runs: 5, openSeconds: 0.01,
                                      totalSeconds: 0.2, writeFloorSeconds: 0.1, peerGGUFPySeconds: nil)
        #expect(report.table.contains("3 tensors, 1000000 elements -> 4 MB of Float32"))
        #expect(report.table.contains("| open + dequantize all to F32 |       0.200 |                   0.100 |                 n/a |            2.00 |"))
        #expect(report.table.hasSuffix("under the 1 s target"))
    }
}

@Suite struct PlanSearchBenchTests {
    /// The JSON keys `scripts/bench_tables.py` and earlier result files read.
    @Test func resultKeysAreSnakeCase() throws {
        let result = PlanSearchBench.Result(job: "j", candidates: 10, fitting: 5, simulated: 2, medianSeconds: 0.5,
                                            candidatesPerSecond: 20, required: 100_000, ratio: 0.0002, runs: 3, threads: 1)
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as? [String: Any]
        #expect(Set((object ?? [:]).keys) == ["job", "candidates", "fitting", "simulated", "median_seconds",
                                                  "candidates_per_second", "required_candidates_per_second", "ratio",
                                                  "runs", "threads"])
        #expect(PlanSearchBench.cases.count == 3 && PlanSearchBench.requiredCandidatesPerSecond == 100_000)
    }
}
