import Testing
import TesseraCollectives

/// Bad arguments of the all-to-all whose counts travel with the payload, on the threads backend.
@Suite struct CountedAllToAllTests {
    /// Headers that do not split into one per rank are refused before any communication, naming the fix.
    @Test func headersMustSplitIntoOnePerRank() throws {
        let errors = try ThreadGroup.run(ranks: 2, deadline: .seconds(10)) { world -> String in
            let input = [UInt8](repeating: 1, count: 4)
            do {
                try input.withUnsafeBytes { input in
                    try world.allToAll(input, sendCounts: [2, 2], headers: [1, 2, 3]) { _ in UnsafeMutableRawBufferPointer(start: nil, count: 0) }
                }
            } catch let error as CollectiveError {
                guard case .invalidArgument = error else { return "wrong error \(error)" }
                try world.barrier()
                return "\(error)"
            }
            return "no error"
        }
        #expect(errors.allSatisfy { $0.contains("3 header integers do not split into 2 equal headers") })
    }

    /// An output too small for what arrives fails its own rank; the peer still receives its pieces.
    @Test func outputTooSmallFailsOnlyItsRank() throws {
        let outcomes = try ThreadGroup.run(ranks: 2, deadline: .seconds(10)) { world -> String in
            let input: [UInt8] = world.rank == 0 ? [10, 11, 12, 13] : [20, 21, 22, 23]
            var output = [UInt8](repeating: 0, count: 4)
            do {
                try input.withUnsafeBytes { input in
                    try output.withUnsafeMutableBytes { output in
                        try world.allToAll(input, sendCounts: [2, 2], headers: []) { arrival in
                            UnsafeMutableRawBufferPointer(rebasing: output[0..<(world.rank == 0 ? 3 : arrival.receivedBytes)])
                        }
                    }
                }
            } catch let error as CollectiveError {
                guard case .invalidArgument = error else { return "wrong error \(error)" }
                return "\(error)"
            }
            return "\(output)"
        }
        #expect(outcomes[0].contains("the output buffer has 3 bytes but 4 arrive"))
        #expect(outcomes[1] == "[12, 13, 22, 23]")
    }
}
