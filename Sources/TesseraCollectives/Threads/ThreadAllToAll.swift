/// The threads backend's all-to-all with known counts.
///
/// Every rank publishes its input, its output and its counts. The rank whose arrival completes the slot (every other
/// rank is then blocked in the call, its buffers valid) pushes its pieces straight into the others' outputs, pulls
/// its own from their inputs, marks phase 0 and returns without waiting for anyone. Each earlier rank waits for that
/// mark, pulls from the other earlier ranks, and meets them at phase 1 so no input is released while a peer may still
/// read it. The last rank is the one the others were waiting for, in an expert exchange the one with the most expert
/// work, so the critical path never waits for a sleeping peer to wake up (with two ranks, only the earlier rank waits,
/// for the last one's mark). Each piece is still copied exactly once.
extension ThreadCommunicator {
    /// The work of ``allToAll(_:sendCounts:into:receiveCounts:)``, for a sequence number; the counts are
    /// cross-checked by every rank after arrival, before any copy, so all of them throw on a mismatch.
    func allToAllWork(_ input: UnsafeRawBufferPointer, sendCounts: [Int],
                      into output: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws -> Work {
        try CollectiveArguments.checkAllToAll(sendCounts: sendCounts, inputBytes: input.count, receiveCounts: receiveCounts,
                                              outputBytes: output.count, group: name, size: size)
        let signature = CallSignature(operation: "allToAll", byteCount: nil)
        return { [self] sequence in
            let publish = { (slot: CollectiveSlot) in
                slot.inputs[self.rank] = input.baseAddress
                slot.outputs[self.rank] = output.baseAddress
                slot.parameters[self.rank] = sendCounts + receiveCounts
            }
            guard size > 1 else {
                let slot = CollectiveSlot(size: 1, sequence: sequence)
                publish(slot)
                try checkCounts(slot)
                pull(from: slot, receiveCounts: receiveCounts, into: output)
                return
            }
            let slot = try group.arrive(rank: rank, sequence: sequence, signature: signature, publish: publish)
            try checkCounts(slot)
            let last = slot.lastArrival!
            guard rank != last else {
                let sendOffsets = CollectiveArguments.offsets(sendCounts)
                for destination in 0..<size where destination != rank && sendCounts[destination] > 0 {
                    let offset = slot.parameters[destination][size..<size + rank].reduce(0, +)
                    (slot.outputs[destination]! + offset).copyMemory(from: input.baseAddress! + sendOffsets[destination],
                                                                    byteCount: sendCounts[destination])
                }
                pull(from: slot, receiveCounts: receiveCounts, into: output)
                group.finishPhase(0, of: slot, waits: false)
                return
            }
            group.awaitPhase(0, count: 1, of: slot)
            pull(from: slot, receiveCounts: receiveCounts, into: output, skipping: last)
            group.finishPhase(1, of: slot, members: size - 1)
        }
    }

    /// Every rank checks the whole matrix of counts, so all of them agree on throwing before any copy.
    private func checkCounts(_ slot: CollectiveSlot) throws {
        for source in 0..<size {
            for destination in 0..<size where slot.parameters[source][destination] != slot.parameters[destination][size + source] {
                throw group.universe.lock.withLock {
                    group.failLocked(rank: rank, .mismatch(
                        group: name, operation: "allToAll", sequence: slot.sequence,
                        detail: "rank \(source) sends \(slot.parameters[source][destination]) bytes to rank \(destination), "
                            + "which expects \(slot.parameters[destination][size + source])"))
                }
            }
        }
    }
}
