import Foundation
import Testing
import TesseraTrain

@Suite struct MetricsTests {
    let metrics = StepMetrics(step: 3, loss: 2.5, learningRate: 0.001, gradientNorm: 0.75, tokens: 1024, stepSeconds: 0.5,
                              elapsedSeconds: 1.5)

    @Test func aMetricsLineHoldsTheDocumentedKeys() throws {
        let object = try JSONSerialization.jsonObject(with: Data(metrics.jsonLine.utf8)) as? [String: Any]
        #expect(object?["step"] as? Int == 3)
        #expect(object?["loss"] as? Double == 2.5)
        #expect(object?["lr"] as? Double == 0.001)
        #expect(object?["grad_norm"] as? Double == 0.75)
        #expect(object?["tokens_per_second"] as? Double == 2048)
        #expect(!metrics.jsonLine.contains("\n"))
    }

    @Test func theWriterFlushesEachLine() throws {
        let path = NSTemporaryDirectory() + "tessera-metrics-\(UInt32.random(in: 0...UInt32.max))/m.jsonl"
        let writer = try MetricsWriter(path: path)
        try writer.append(metrics)
        // Read while the writer is still open: the line must already be in the file.
        let first = try String(contentsOfFile: path, encoding: .utf8)
        #expect(first == metrics.jsonLine + "\n")
        var next = metrics
        next.step = 4
        try writer.append(next)
        #expect(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count == 2)
    }

    @Test func anUnwritableMetricsPathIsNamed() {
        #expect(throws: TrainingError.unwritable(path: "/proc/nope/m.jsonl", reason: "cannot create the metrics file")) {
            try MetricsWriter(path: "/proc/nope/m.jsonl")
        }
    }

    @Test func plainLinesAndTheBar() {
        let plain = ProgressDisplay(style: .plain, totalSteps: 10).update(metrics)
        #expect(plain == "step 3/10  loss 2.5000  lr 1.000e-03  grad_norm 0.750  2048 tokens/s  0.50 s\n")
        let bar = ProgressDisplay(style: .bar(width: 10), totalSteps: 10).update(metrics)
        #expect(bar == "\r███░░░░░░░ 3/10  loss 2.5000  2048 tok/s  eta 4s\u{1B}[K")
        #expect(ProgressDisplay(style: .bar(width: 10), totalSteps: 10).finish() == "\n")
    }
}
