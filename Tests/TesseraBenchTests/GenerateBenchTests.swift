import Foundation
import Testing
import TesseraBench

/// `tessera bench generate`'s pieces that need no model: the shared prompt rule, the table and the peer's JSON line.
@Suite struct GenerateBenchTests {
    static func run(_ name: String, decode: Double, prefill: Double, mebibytes: Int) -> GenerateBench.Run {
        GenerateBench.Run(implementation: name, promptTokens: 512, prefillSeconds: 512 / prefill, prefillTokensPerSecond: prefill,
                          decodedTokens: 256, decodeSeconds: 256 / decode, decodeTokensPerSecond: decode, peakResidentBytes: mebibytes << 20)
    }

    /// The prompt is scripts/bench_llama_generate.py's: 100 + (7919 i) mod 10000; a batch's later sequences start
    /// 1000 positions further each, so no two prompts are equal.
    @Test func promptIDsFollowThePeersRule() {
        #expect(GenerateBench.promptIDs(count: 4) == [100, 8019, 5938, 3857])
        #expect(GenerateBench.promptIDs(count: 2, sequence: 1) == GenerateBench.promptIDs(count: 1002).suffix(2).map { $0 })
        #expect(Set((0..<8).map { GenerateBench.promptIDs(count: 16, sequence: $0) }).count == 8)
    }

    /// Each batch-1 measure is a row with both sides and Tessera's ratio; a batch row is against batch 1 at the same
    /// threads, a tp row against tp 1 with the threads of all its ranks.
    @Test func tableListsBothSidesAndTheRatios() {
        let model = "models/m.gguf"
        let report = GenerateBenchReport(
            date: "2026-12-04", machine: "CPU, 2 cores", loadAverage: "1 1 1", command: "tessera bench generate", promptTokens: 512,
            decodeTokens: 256, kvCacheType: "f16", rows: [
                .init(model: model, threads: 2, tessera: [Self.run("T", decode: 120, prefill: 300, mebibytes: 150)],
                      llamaCpp: [Self.run("L", decode: 100, prefill: 250, mebibytes: 250)]),
                .init(model: model, threads: 2, batch: 8, tessera: [Self.run("T", decode: 420, prefill: 300, mebibytes: 180)], llamaCpp: []),
                .init(model: model, threads: 1, tp: 2, tessera: [Self.run("T", decode: 114, prefill: 280, mebibytes: 160)], llamaCpp: []),
            ])
        let lines = report.table.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("key/value cache f16 on both sides") })
        // One round: no spread column, each run started on quiet CPUs.
        #expect(lines.contains { $0.hasSuffix("each run in its own process, started once the CPUs were 90 % idle over 0.5 s (at most 20 s waited)") })
        #expect(!report.table.contains("min–max"))
        #expect(lines.contains { $0.contains("decode tokens/s (batch 1)") && $0.contains("120.0") && $0.contains("100.0") && $0.hasSuffix("1.20× llama.cpp") })
        #expect(lines.contains { $0.contains("peak RSS MiB ") && $0.contains("150.0") && $0.hasSuffix("0.60× llama.cpp") })
        #expect(lines.contains { $0.contains("aggregate decode tokens/s (batch 8)") && $0.contains("420.0") && $0.hasSuffix("3.50× batch 1") })
        #expect(lines.contains { $0.contains("decode tokens/s (tp 2)") && $0.contains("1 per rank") && $0.hasSuffix("0.95× tp 1") })
    }

    /// The peer runs with the workload's cache type (F16 unless asked otherwise, llama.cpp's default).
    @Test func peerCommandNamesTheCacheType() {
        let workload = GenerateBench.Workload(model: "m.gguf", threads: 2, promptTokens: 8, decodeTokens: 4)
        #expect(GenerateBench.llamaCommand(python: "python", script: "s.py", workload).suffix(2) == ["--cache-type", "f16"])
        var q8 = workload
        q8.cacheType = .q8_0
        #expect(GenerateBench.llamaCommand(python: "python", script: "s.py", q8).suffix(2) == ["--cache-type", "q8_0"])
    }

    /// The peer's summary line decodes into a run (snake_case keys).
    @Test func peerLineDecodes() throws {
        let line = #"{"implementation": "llama.cpp", "prompt_tokens": 512, "prefill_seconds": 2.0, "prefill_tokens_per_second": 256.0, "decoded_tokens": 256, "decode_seconds": 2.5, "decode_tokens_per_second": 102.4, "peak_resident_bytes": 278921216}"#
        let run = try JSONDecoder().decode(GenerateBench.Run.self, from: Data(line.utf8))
        #expect(run.decodeTokensPerSecond == 102.4 && run.peakResidentBytes == 278_921_216)
    }
}
