import Testing
import TesseraCollectives

/// The backend-independent checks (the ones `make test-mpi` runs under mpirun) on the threads backend.
@Suite(.serialized) struct ConformanceTests {
    @Test(arguments: 1...8)
    func threadsBackendPassesEveryCheck(ranks: Int) throws {
        let ran = try ThreadGroup.run(ranks: ranks, deadline: .seconds(10)) { world in
            try CollectiveConformance.run(on: world)
        }
        #expect(ran.allSatisfy { $0 == CollectiveConformance.checkNames })
    }

    /// Non-vacuity: a communicator whose all-reduce does nothing is caught.
    @Test func brokenAllReduceIsCaught() {
        #expect(throws: CollectiveConformance.Failure.self) {
            _ = try ThreadGroup.run(ranks: 2, deadline: .seconds(10)) { world in
                try CollectiveConformance.run(on: SkippingAllReduce(world))
            }
        }
    }
}

/// Forwards everything to a real communicator except all-reduce, which it skips.
final class SkippingAllReduce: Communicator, @unchecked Sendable {
    let base: any Communicator
    init(_ base: any Communicator) { self.base = base }
    var rank: Int { base.rank }
    var size: Int { base.size }
    var name: String { base.name }
    var deadline: Duration { base.deadline }
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws {}
    func allGather(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        try base.allGather(input, into: output)
    }
    func reduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                       operation: ReduceOperation) throws {
        try base.reduceScatter(input, into: output, operation: operation)
    }
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws { try base.broadcast(buffer, root: root) }
    func send(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        try base.send(buffer, to: destination, tag: tag)
    }
    func receive(into buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws {
        try base.receive(into: buffer, from: source, tag: tag)
    }
    func allToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int], into output: UnsafeMutableRawBufferPointer,
                  receiveCounts: [Int]) throws {
        try base.allToAll(input, sendCounts: sendCounts, into: output, receiveCounts: receiveCounts)
    }
    func barrier() throws { try base.barrier() }
    func split(color: Int, key: Int, name: String) throws -> (any Communicator)? {
        try base.split(color: color, key: key, name: name)
    }
    func startAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws -> any CollectiveRequest {
        try base.startAllReduce(buffer, operation: operation)
    }
    func startAllGather(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> any CollectiveRequest {
        try base.startAllGather(input, into: output)
    }
    func startReduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                            operation: ReduceOperation) throws -> any CollectiveRequest {
        try base.startReduceScatter(input, into: output, operation: operation)
    }
    func startAllToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int], into output: UnsafeMutableRawBufferPointer,
                       receiveCounts: [Int]) throws -> any CollectiveRequest {
        try base.startAllToAll(input, sendCounts: sendCounts, into: output, receiveCounts: receiveCounts)
    }
    func startSend(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws -> any CollectiveRequest {
        try base.startSend(buffer, to: destination, tag: tag)
    }
    func startReceive(into buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws -> any CollectiveRequest {
        try base.startReceive(into: buffer, from: source, tag: tag)
    }
}
