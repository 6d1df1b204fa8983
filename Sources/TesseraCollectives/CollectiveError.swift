/// Why a collective or point-to-point operation could not complete.
///
/// Every case names the group, the operation and its per-group sequence number, so a hang in a
/// 64-rank job reads as "tp[pp=1] allReduce #812: ranks 3, 5 did not arrive within 30 s".
public enum CollectiveError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Peers did not arrive before the deadline.
    case timeout(group: String, operation: String, sequence: Int, missingRanks: [Int], deadline: Duration)
    /// A peer failed or left; this rank was released instead of waiting forever. `rank` is the failing
    /// rank's position in the world group (the launcher's numbering), since it need not belong to `group`;
    /// -1 when no rank failed but the group can no longer be used (its run has finished).
    case peerFailed(group: String, operation: String, sequence: Int, rank: Int, reason: String)
    /// Ranks issued different operations or sizes at the same point in the sequence.
    case mismatch(group: String, operation: String, sequence: Int, detail: String)
    /// The call itself is invalid (rank out of range, buffer sizes that do not fit the group).
    case invalidArgument(group: String, operation: String, detail: String)
    /// The backend reported an error (e.g. an MPI error string).
    case backend(group: String, operation: String, detail: String)

    public var description: String { message(timeoutSetting: "the group's collective timeout") }

    /// The message, naming the setting that raises the deadline as `timeoutSetting` (the CLI: `--collective-timeout`).
    public func message(timeoutSetting: String) -> String {
        switch self {
        case let .timeout(group, operation, sequence, missing, deadline):
            let advice = " (a peer is hung, dead or issuing a different collective; raise \(timeoutSetting) if it is only slow)"
            guard !missing.isEmpty else {
                return "\(group) \(operation) #\(sequence): did not complete within \(deadline) although every rank arrived" + advice
            }
            let ranks = missing.map(String.init).joined(separator: ", ")
            return "\(group) \(operation) #\(sequence): rank(s) \(ranks) did not arrive within \(deadline)" + advice
        case let .peerFailed(group, operation, sequence, rank, reason):
            return "\(group) \(operation) #\(sequence): rank \(rank) failed: \(reason)"
        case let .mismatch(group, operation, sequence, detail):
            return "\(group) \(operation) #\(sequence): ranks disagree: \(detail)"
        case let .invalidArgument(group, operation, detail):
            return "\(group) \(operation): invalid argument: \(detail)"
        case let .backend(group, operation, detail):
            return "\(group) \(operation): backend error: \(detail)"
        }
    }
}
