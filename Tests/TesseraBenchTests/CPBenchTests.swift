import Testing
import TesseraBench
import TesseraModels
import TesseraParallel

@Suite struct CPBenchTests {
    /// A smoke run of `tessera bench cp` on the tiny preset: every attention trains with cp = 1's losses, the
    /// per-rank activations of ring and all-gather attention are at most 1.1 × half of cp = 1's (Ulysses also keeps its
    /// head shards for the backward pass, so it only falls below cp = 1), and the table and JSON have a row per layout.
    @Test func tinyRunMeasuresEveryAttention() throws {
        let result = try CPBench.measure(TransformerConfig.preset(named: "tiny"), configName: "tiny", sequenceLengths: [48], cp: 2,
                                         communications: ContextCommunication.allCases, batch: 1, warmup: 0, steps: 2, progress: { _ in })
        #expect(result.rows.count == 4)
        let single = result.rows[0]
        for row in result.rows.dropFirst() {
            #expect(row.run.lossesMatch(single.run))
            let bound = row.communication == .a2a ? Double(single.activationBytes) : 1.1 * Double(single.activationBytes) / 2
            #expect(Double(row.activationBytes) <= bound)
        }
        #expect(result.lines.filter { $0.hasPrefix("| 48 |") }.count == 4)
        #expect((result.json["rows"] as? [[String: Any]])?.count == 4)
    }

    /// A smoke run of `tessera bench cp --attention-only`: a row per attention with positive times, the efficiency
    /// defined from them, and the table and JSON carrying every row.
    @Test func attentionOnlyRunHasARowPerAttention() throws {
        let rows = try ContextAttentionBench.measure(TransformerConfig.preset(named: "tiny"), sequenceLengths: [48], cp: 2,
                                                     communications: ContextCommunication.allCases, batch: 1, repeats: 2, progress: { _ in })
        #expect(rows.map(\.communication) == ContextCommunication.allCases)
        for row in rows {
            #expect(row.singleSeconds > 0 && row.parallelSeconds > 0)
            #expect(abs(row.efficiency - row.singleSeconds / (2 * row.parallelSeconds)) < 1e-12)
        }
        #expect(ContextAttentionBench.lines(rows, configName: "tiny", cp: 2, batch: 1, repeats: 2).filter { $0.hasPrefix("| 48 |") }.count == 3)
        #expect((ContextAttentionBench.json(rows, configName: "tiny", cp: 2, batch: 1, repeats: 2)["rows"] as? [[String: Any]])?.count == 3)
    }
}
