import Foundation
import Testing
import TesseraBench

/// `tessera bench generate`'s pieces that need no model: the shared prompt rule, the table and the peer's JSON line.
@Suite struct GenerateBenchTests {
    static func run(_ name: String, decode: Double, prefill: Double, mebibytes: Int) -> GenerateBench.Run {
        GenerateBench.Run(implementation: name, promptTokens: 512, prefillSeconds: 512 / prefill, prefillTokensPerSecond: prefill,
                          decodedTokens: 256, decodeSeconds: 256 / decode, decodeTokensPerSecond: decode, peakResidentBytes: mebibytes << 20)
    }

    /// The prompt is scripts/bench_llama_generate.py's: 100 + (7919 i) mod 10000.
    @Test func promptIDsFollowThePeersRule() {
        #expect(GenerateBench.promptIDs(count: 4) == [100, 8019, 5938, 3857])
    }

    /// Each measure is a row with both sides and Tessera's ratio; settings not measured yet say why.
    @Test func tableListsBothSidesAndTheRatio() {
        let report = GenerateBenchReport(
            date: "2026-12-04", machine: "CPU, 2 cores", loadAverage: "1 1 1", command: "tessera bench generate", promptTokens: 512,
            decodeTokens: 256, rows: [.init(model: "models/m.gguf", threads: 2, tessera: Self.run("T", decode: 120, prefill: 300, mebibytes: 150),
                                             llamaCpp: Self.run("L", decode: 100, prefill: 250, mebibytes: 250))],
            unavailable: GenerateBenchReport.pendingSettings)
        let lines = report.table.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("decode tokens/s (batch 1)") && $0.contains("120.0") && $0.contains("100.0") && $0.hasSuffix("1.20") })
        #expect(lines.contains { $0.contains("peak RSS MiB") && $0.contains("150.0") && $0.hasSuffix("0.60") })
        #expect(lines.contains { $0.contains("batch 8") && $0.contains("not measured") })
    }

    /// The peer's summary line decodes into a run (snake_case keys).
    @Test func peerLineDecodes() throws {
        let line = #"{"implementation": "llama.cpp", "prompt_tokens": 512, "prefill_seconds": 2.0, "prefill_tokens_per_second": 256.0, "decoded_tokens": 256, "decode_seconds": 2.5, "decode_tokens_per_second": 102.4, "peak_resident_bytes": 278921216}"#
        let run = try JSONDecoder().decode(GenerateBench.Run.self, from: Data(line.utf8))
        #expect(run.decodeTokensPerSecond == 102.4 && run.peakResidentBytes == 278_921_216)
    }
}
