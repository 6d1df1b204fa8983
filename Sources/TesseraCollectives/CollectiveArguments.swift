/// Argument checks shared by every backend: each throws
/// ``CollectiveError/invalidArgument(group:operation:detail:)`` naming what is wrong and what would fit.
package enum CollectiveArguments {
    package static func checkPeer(_ peer: Int, role: String, group: String, size: Int, operation: String) throws {
        guard (0..<size).contains(peer) else {
            throw CollectiveError.invalidArgument(group: group, operation: operation,
                                                  detail: "\(role) rank \(peer) is outside the group's ranks 0..<\(size)")
        }
    }

    /// `output.count == size * input.count` (bytes).
    package static func checkAllGather(input: Int, output: Int, group: String, size: Int) throws {
        guard output == size * input else {
            throw CollectiveError.invalidArgument(
                group: group, operation: "allGather",
                detail: "output has \(output) bytes but must have size × input.count = \(size) × \(input) = \(size * input)")
        }
    }

    /// `input.count == size * output.count` (floats).
    package static func checkReduceScatter(input: Int, output: Int, group: String, size: Int) throws {
        guard input == size * output else {
            throw CollectiveError.invalidArgument(
                group: group, operation: "reduceScatter",
                detail: "input has \(input) floats but must have size × output.count = \(size) × \(output) = \(size * output)")
        }
    }

    /// One non-negative count per rank, summing to at most the buffer's size.
    package static func checkAllToAll(sendCounts: [Int], inputBytes: Int, receiveCounts: [Int], outputBytes: Int,
                              group: String, size: Int) throws {
        for (label, counts, bytes) in [("sendCounts", sendCounts, inputBytes), ("receiveCounts", receiveCounts, outputBytes)] {
            guard counts.count == size, counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) <= bytes else {
                throw CollectiveError.invalidArgument(
                    group: group, operation: "allToAll",
                    detail: "\(label) \(counts) must have \(size) non-negative entries summing to at most the buffer's \(bytes) bytes")
            }
        }
    }

    /// Byte offsets of consecutive blocks of `counts` bytes.
    package static func offsets(_ counts: [Int]) -> [Int] {
        var offsets: [Int] = []
        var total = 0
        for count in counts {
            offsets.append(total)
            total += count
        }
        return offsets
    }
}
