import Foundation

/// The PyTorch peer of `tessera bench train` (scripts/bench_pytorch_train.py): its figures, read from the JSON
/// summary line it prints last.
public struct PyTorchPeer {
    /// The implementation's name up to its first " +" ("PyTorch 2.x" without the details).
    public var name: String
    public var tokensPerSecond: Double
    public var stepSeconds: Double
    public var peakBytes: Int
    /// The whole summary line, kept in the benchmark's JSON.
    public var json: [String: Any]

    /// Reads the peer's summary line; nil when it is not a JSON object with `tokens_per_second` and
    /// `median_step_seconds` numbers.
    public init?(summaryLine: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(summaryLine.utf8)) as? [String: Any],
              let rate = object["tokens_per_second"] as? Double, let step = object["median_step_seconds"] as? Double
        else { return nil }
        name = (object["implementation"] as? String)?.components(separatedBy: " +").first ?? "PyTorch"
        (tokensPerSecond, stepSeconds) = (rate, step)
        peakBytes = object["peak_resident_bytes"] as? Int ?? 0
        json = object
    }

    /// Runs `script` with `python` in its own process (its memory is its own) on `shape` with `threads` threads,
    /// `layers` layers (GPT-2 small's 12 when nil), and reads its summary line.
    /// - Throws: ``BenchError/missingPeerScript(path:)``, ``BenchError/peerFailed(command:status:)``.
    public static func run(python: String, script: String, threads: Int, shape: TrainingBenchmark.Shape, layers: Int?,
                           warmup: Int, steps: Int, progress: (String) -> Void) throws -> PyTorchPeer {
        guard FileManager.default.fileExists(atPath: script) else { throw BenchError.missingPeerScript(path: script) }
        progress("PyTorch: \(warmup) warm-up + \(steps) timed steps…")
        let (lastLine, status) = try Subprocess.lastOutputLine(
            [python, script, "--threads", "\(threads)", "--batch", "\(shape.batch)", "--seq-len", "\(shape.sequenceLength)",
             "--warmup", "\(warmup)", "--steps", "\(steps)", "--layers", "\(layers ?? 12)"])
        guard status == 0, let peer = PyTorchPeer(summaryLine: lastLine) else {
            throw BenchError.peerFailed(command: "\(python) \(script)", status: status)
        }
        return peer
    }
}
