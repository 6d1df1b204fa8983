/// How ranks meet in a collective slot.
///
/// A collective has two parts. Arrival: each rank publishes its call and buffers and waits, with the
/// group's deadline, until all ranks have arrived; this is where timeouts, mismatches, failed and departed
/// peers are detected, and nothing has touched a peer's buffer yet. Phases: once all ranks are in, each
/// works on its share and meets the others at a phase barrier after each step. Phase barriers have no
/// deadline and ignore failures on purpose: every rank is then inside this finite code, possibly reading
/// a peer's buffer, and must not return (letting the caller free the buffer) before all are done.
extension ThreadGroupState {
    /// Arrives at collective `sequence` as group rank `rank`, publishing through `publish` (lock held).
    /// Returns the slot once every rank has arrived.
    ///
    /// - Throws: ``CollectiveError/mismatch(group:operation:sequence:detail:)`` when ranks disagree on the
    ///   call, ``CollectiveError/timeout(group:operation:sequence:missingRanks:deadline:)`` naming the ranks
    ///   missing at the deadline, ``CollectiveError/peerFailed(group:operation:sequence:rank:reason:)`` when
    ///   a peer failed or returned from its body without making the call.
    func arrive(rank: Int, sequence: Int, signature: CallSignature,
                publish: (CollectiveSlot) -> Void = { _ in }) throws -> CollectiveSlot {
        let operation = signature.operation
        let deadline = deadlineFromNow()
        let lock = universe.lock
        lock.lock()
        defer { lock.unlock() }
        if let error = releaseErrorLocked(operation: operation, sequence: sequence) { throw error }
        let slot: CollectiveSlot
        if let existing = slots[sequence] {
            slot = existing
        } else {
            slot = CollectiveSlot(size: size, sequence: sequence)
            slots[sequence] = slot
        }
        if let first = slot.signatures.firstIndex(where: { $0 != nil }), let expected = slot.signatures[first],
           expected != signature {
            let detail = "rank \(first) called \(expected.summary), rank \(rank) called \(signature.summary)"
            slot.mismatch = detail
            signal.notifyLocked()
            throw failLocked(rank: rank, .mismatch(group: name, operation: operation, sequence: sequence, detail: detail))
        }
        slot.signatures[rank] = signature
        publish(slot)
        slot.arrivedCount += 1
        if slot.arrivedCount == size {
            // Everyone is in: the phases hold the slot itself, so the sequence number can be retired.
            slots[sequence] = nil
            slot.lastArrival = rank
            signal.notifyLocked()
        }
        while true {
            if slot.arrivedCount == size { return slot }
            if let detail = slot.mismatch {
                throw CollectiveError.mismatch(group: name, operation: operation, sequence: sequence, detail: detail)
            }
            if let error = releaseErrorLocked(operation: operation, sequence: sequence) { throw error }
            let missing = slot.missingRanks
            if let gone = exitedRankLocked(among: missing) {
                throw failLocked(rank: rank, .peerFailed(
                    group: name, operation: operation, sequence: sequence, rank: members[gone],
                    reason: "rank \(gone) of \(name) returned from its body without calling \(operation) #\(sequence)"))
            }
            if monotonicNanoseconds() >= deadline {
                throw failLocked(rank: rank, .timeout(group: name, operation: operation, sequence: sequence,
                                                      missingRanks: missing, deadline: self.deadline))
            }
            signal.wait(lock, until: deadline)
        }
    }

    /// Meets the other ranks after step `phase` of the slot's work: returns once `members` ranks (all by default)
    /// have finished it, or at once when `waits` is false.
    func finishPhase(_ phase: Int, of slot: CollectiveSlot, members: Int? = nil, waits: Bool = true) {
        let lock = universe.lock
        lock.lock()
        defer { lock.unlock() }
        while slot.phaseCounts.count <= phase { slot.phaseCounts.append(0) }
        slot.phaseCounts[phase] += 1
        let expected = members ?? size
        if slot.phaseCounts[phase] == expected || !waits {
            signal.notifyLocked()
            return
        }
        while slot.phaseCounts[phase] < expected { signal.wait(lock, until: .max) }
    }

    /// Waits until at least `count` ranks have finished step `phase` of the slot's work (without finishing it).
    func awaitPhase(_ phase: Int, count: Int, of slot: CollectiveSlot) {
        let lock = universe.lock
        lock.lock()
        defer { lock.unlock() }
        while slot.phaseCounts.count <= phase || slot.phaseCounts[phase] < count { signal.wait(lock, until: .max) }
    }
}
