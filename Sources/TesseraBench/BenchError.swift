/// Bad input to a benchmark; each message names the problem.
public enum BenchError: Error, Equatable, CustomStringConvertible {
    /// The text file to encode is not valid UTF-8.
    case notUTF8(path: String)
    /// The PyTorch peer script does not exist.
    case missingPeerScript(path: String)
    /// The PyTorch peer exited with a failure status or printed no JSON summary line with
    /// `tokens_per_second` and `median_step_seconds`.
    case peerFailed(command: String, status: Int32)
    /// A run of `tessera bench generate` (Tessera's worker or the llama.cpp peer) failed or printed no JSON line.
    case generateRunFailed(command: String, status: Int32)
    /// A server under `tessera bench serve` failed to start, answered with an error, or could not be reached.
    case serveFailed(reason: String)

    public var description: String {
        switch self {
        case .notUTF8(let path): return "\(path) is not UTF-8"
        case .missingPeerScript(let path): return "\(path): the PyTorch peer script is missing"
        case .peerFailed(let command, let status):
            return "the PyTorch peer (\(command)) failed with status \(status); install torch and transformers (pip install torch transformers)"
        case .generateRunFailed(let command, let status):
            return "\(command) failed with status \(status) or printed no JSON line; for the llama.cpp peer run make bench-generate (it installs llama-cpp-python into .build/venv-llama) or leave the peer out"
        case .serveFailed(let reason):
            return reason
        }
    }
}
