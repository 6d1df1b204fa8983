import Foundation
import Testing
import TesseraBench
import TesseraModels
import TesseraParallel

@Suite struct TrainingBenchTests {
    static let shape = TrainingBenchmark.Shape(config: try! TransformerConfig.preset(named: "tiny"), batch: 2, sequenceLength: 16)

    static func run(_ seconds: [Double], losses: [Double] = [5.5, 5.4]) -> TrainingBenchmark.Run {
        TrainingBenchmark.Run(stepSeconds: seconds, communicationSeconds: seconds.map { $0 / 10 }, losses: losses,
                              tokensPerStep: shape.tokensPerStep)
    }

    /// tokens · (6·N + 12·L·h·T), by hand for the tiny preset.
    @Test func flopsPerStepFormula() {
        let s = Self.shape, n = Double(s.config.parameterCount)
        #expect(s.tokensPerStep == 32)
        #expect(s.flopsPerStep == 32 * (6 * n + 12 * 2 * 64 * 16))
        #expect(s.gigaflops(stepSeconds: 2) == s.flopsPerStep / 2e9)
        #expect(s.formula.contains("L = 2, h = 64, T = 16"))
    }

    @Test func runMediansAndLossMatching() {
        let run = Self.run([0.3, 0.1, 0.2])
        #expect(run.medianStepSeconds == 0.2)
        #expect(run.tokensPerSecond == 32 / 0.2)
        #expect(run.lossesMatch(Self.run([1], losses: [5.5 * (1 + 5e-5), 5.4])))
        // Non-vacuity: a loss off by 1e-3 relative is caught.
        #expect(!run.lossesMatch(Self.run([1], losses: [5.5 * (1 + 1e-3), 5.4])))
    }

    /// Real steps through the trainer on the tiny preset: one rank and dp = 2 train the same model.
    @Test func measuresOneRankAndDataParallelAlike() throws {
        let one = try TrainingBenchmark.measure(Self.shape, blasThreads: 1, warmup: 1, steps: 2) { _ in }
        let layout = try ParallelConfig(dp: 2, microBatchSize: 1)
        let data = try TrainingBenchmark.measure(Self.shape, parallel: layout, blasThreads: 1, warmup: 1, steps: 2) { _ in }
        #expect(one.stepSeconds.count == 2 && one.losses.count == 2 && one.metrics.count == 2)
        #expect(data.lossesMatch(one))
        #expect(one.losses.allSatisfy { $0.isFinite && $0 > 0 })
    }

    @Test func trainReportRowsRatiosAndJSON() throws {
        let peer = try #require(PyTorchPeer(summaryLine: """
            {"implementation": "PyTorch 2.5 + transformers", "tokens_per_second": 80.0, "median_step_seconds": 0.4, "peak_resident_bytes": 2097152}
            """))
        let result = TrainBench.Result(
            configName: "tiny", layers: nil, shape: Self.shape, threads: 2, warmup: 1, steps: 3, sgemmShape: (32, 128, 64),
            sgemmRates: [10, 30, 20], tessera: Self.run([0.2, 0.2, 0.2]), tesseraPeakBytes: 3 << 20,
            dataParallel: .init(dp: 2, run: Self.run([0.1, 0.1, 0.1]), peakBytes: 4 << 20, lossesEqual: true), peer: peer)
        let lines = result.lines
        #expect(lines[0].hasPrefix("Training throughput: tiny ("))
        let gflops = Self.shape.gigaflops(stepSeconds: 0.2)
        #expect(lines.contains("| Tessera, 1 rank × 2 BLAS threads | 160.0 | 0.200 | \(BenchText.fixed(gflops, 1)) | \(BenchText.fixed(100 * gflops / 20, 1)) | 3 |"))
        #expect(lines.contains { $0.hasPrefix("| Tessera, dp=2 × 1 BLAS thread | 320.0 | 0.100 |") && $0.hasSuffix("| 4 |") })
        #expect(lines.contains { $0.hasPrefix("| PyTorch 2.5 | 80.0 | 0.400 |") && $0.hasSuffix("| 2 |") })
        #expect(lines.contains("| cblas_sgemm 32×128×64 (limit) | | | 20.0 | 100.0 | |"))
        #expect(lines.contains("Tessera / PyTorch tokens/s: 1 rank 2.00×, dp=2 4.00×; best on these 2 cores 4.00× (target ≥ 1.2×)"))
        #expect(lines.last == "dp=2 losses equal to the 1-rank run's within 1e-4 relative: yes")
        let json = result.json
        #expect(json["benchmark"] as? String == "train")
        #expect(json["ratio_tokens_per_second"] as? Double == 2)
        #expect(json["best_ratio_tokens_per_second"] as? Double == 4)
        #expect((json["sgemm"] as? [String: Any])?["gflops"] as? Double == 20)
        #expect((json["tessera_data_parallel"] as? [String: Any])?["blas_threads_per_rank"] as? Int == 1)
        let text = String(decoding: try BenchJSON.data(json), as: UTF8.self)
        #expect(text.contains("\"flops_formula\""))
    }

    @Test func peerSummaryNeedsItsTwoFigures() {
        #expect(PyTorchPeer(summaryLine: #"{"tokens_per_second": 1.0}"#) == nil)
        #expect(PyTorchPeer(summaryLine: "step 3: loss 5.1") == nil)
        let peer = PyTorchPeer(summaryLine: #"{"tokens_per_second": 1.5, "median_step_seconds": 2.0}"#)
        #expect(peer?.name == "PyTorch" && peer?.peakBytes == 0)
    }

    @Test func missingPeerScriptIsNamed() {
        #expect(throws: BenchError.missingPeerScript(path: "/nonexistent/peer.py")) {
            try PyTorchPeer.run(python: "python3", script: "/nonexistent/peer.py", threads: 1, shape: Self.shape, layers: 2,
                                warmup: 1, steps: 1) { _ in }
        }
        #expect(BenchError.missingPeerScript(path: "x.py").description == "x.py: the PyTorch peer script is missing")
    }

    @Test func tensorParallelReport() {
        let result = TPBench.Result(configName: "tiny", layers: 1, shape: Self.shape, tp: 2, sequenceParallel: true, warmup: 1,
                                    steps: 3, single: Self.run([0.2, 0.2, 0.2]), split: Self.run([0.25, 0.25, 0.25]))
        #expect(result.ratio == 0.8)
        #expect(result.lines.contains("| tp=2 + sp | 2 × 1 | 128.0 | 0.250 | 0.025 | yes |"))
        #expect(result.lines.last?.hasPrefix("tp=2 / tp=1 tokens/s: 80.0% (target ≥ 90%); communication 10.0% of the step") == true)
        #expect(result.json["ratio"] as? Double == 0.8)
    }
}

@Suite struct MeshBenchTests {
    /// The data-parallel table: ratios, reduction wait and ZeRO-1's optimizer share, from synthetic runs.
    @Test func dataParallelReportAndJSON() {
        let shape = TrainingBenchTests.shape
        let single = TrainingBenchTests.run([0.4, 0.4, 0.4]), data = TrainingBenchTests.run([0.25, 0.25, 0.25])
        let result = MeshBench.DataParallelResult(configName: "tiny", shape: shape, microBatchSize: 1, dp: 2, warmup: 1, steps: 3,
                                                  single: single, data: data, zero: data)
        #expect(result.ratio == 1.6)
        #expect(result.communication == 0.025)
        #expect(result.lines.contains("| dp=2 | 2 × 1 | 128.0 | 0.250 | nan | 0.0250 | 0 |"))
        #expect(result.lines.contains { $0.hasPrefix("dp=2 / 1 rank tokens/s: 160.0% (target ≥ 95%); losses equal within 1e-4: yes.") })
        let json = MeshBench.json(result, mesh: nil)
        #expect(json["benchmark"] as? String == "mesh" && json["mesh"] == nil)
        #expect((json["data_parallel"] as? [String: Any])?["ratio"] as? Double == 1.6)
    }
}
