import Testing
import TesseraCollectives

/// Inputs whose sums round differently in different orders (the conformance checks' data).
func testValues(rank: Int, count: Int, salt: Int = 0) -> [Float] {
    CollectiveConformance.values(rank: rank, count: count, salt: salt)
}

/// The reduction every backend must reproduce: ranks folded in rank order in Float32.
func referenceReduce(_ inputs: [[Float]], _ operation: ReduceOperation) -> [Float] {
    var out = inputs[0]
    for input in inputs.dropFirst() {
        for i in out.indices {
            switch operation {
            case .sum, .mean: out[i] += input[i]
            case .max: out[i] = Swift.max(out[i], input[i])
            }
        }
    }
    if operation == .mean { out = out.map { $0 / Float(inputs.count) } }
    return out
}

/// The bit patterns of a Float array, for exact comparisons.
func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

/// Runs `body` expecting a `CollectiveError`, and returns it (recording an issue otherwise).
func collectiveError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> CollectiveError? {
    do {
        try body()
        Issue.record("expected a CollectiveError, but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as CollectiveError {
        return error
    } catch {
        Issue.record("expected a CollectiveError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Seconds since an arbitrary start on the continuous clock.
func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
}

extension Communicator {
    /// Gathers one integer from every rank (test bookkeeping).
    func gatherInts(_ value: Int) throws -> [Int] {
        var output = [Int](repeating: 0, count: size)
        let input = [value]
        try input.withUnsafeBytes { input in
            try output.withUnsafeMutableBytes { try allGather(input, into: $0) }
        }
        return output
    }
}
