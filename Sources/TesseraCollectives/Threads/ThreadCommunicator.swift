/// A rank's communicator on one group of the threads backend.
///
/// Collectives meet in a ``CollectiveSlot`` keyed by a per-group sequence number that every call takes in
/// program order (blocking and `start…` calls alike). Data moves directly between the ranks' own buffers
/// over shared memory; nothing is staged. Non-blocking collectives run on a progress thread owned by
/// this communicator, so they advance while the rank computes.
///
/// Calls on one communicator must come from one thread at a time (the rank's), as in MPI.
final class ThreadCommunicator: Communicator, @unchecked Sendable {
    let group: ThreadGroupState
    let rank: Int
    // Guarded by the universe lock:
    private var nextSequence = 0
    private var engine: ProgressEngine?

    init(group: ThreadGroupState, rank: Int) {
        self.group = group
        self.rank = rank
    }

    var size: Int { group.size }
    var name: String { group.name }
    var deadline: Duration { group.deadline }

    // MARK: Blocking

    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws {
        try runNow(allReduceWork(buffer, operation: operation))
    }

    func allGather(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        try runNow(allGatherWork(input, into: output))
    }

    func reduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                       operation: ReduceOperation) throws {
        try runNow(reduceScatterWork(input, into: output, operation: operation))
    }

    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try checkRank(root, role: "root", operation: "broadcast")
        try runNow { [self] sequence in
            try exchange(sequence, CallSignature(operation: "broadcast", byteCount: buffer.count, arguments: "root: \(root)"),
                         publish: { $0.outputs[self.rank] = buffer.baseAddress }) { slot in
                if rank != root, buffer.count > 0 {
                    buffer.baseAddress!.copyMemory(from: slot.outputs[root]!, byteCount: buffer.count)
                }
            }
        }
    }

    func allToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int],
                  into output: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws {
        try runNow(allToAllWork(input, sendCounts: sendCounts, into: output, receiveCounts: receiveCounts))
    }

    /// One meeting: each rank publishes its counts and headers beside its input, and every receiver reads what it
    /// gets from the slot, sizes its output and pulls its pieces. A too-small output fails only its own rank (after
    /// the meeting, so its peers may finish reading its input).
    func allToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int], headers: [Int],
                  into output: (AllToAllArrival) -> UnsafeMutableRawBufferPointer) throws {
        let length = try CollectiveArguments.checkAllToAll(sendCounts: sendCounts, inputBytes: input.count, headers: headers.count,
                                                           group: name, size: size)
        let signature = CallSignature(operation: "allToAll", byteCount: nil, arguments: "header of \(length)")
        var failure: (any Error)?
        try exchange(takeSequence(), signature, publish: { slot in
            slot.inputs[self.rank] = input.baseAddress
            slot.parameters[self.rank] = sendCounts + headers
        }) { slot in
            let first = size + rank * length
            let arrival = AllToAllArrival(receiveCounts: (0..<size).map { slot.parameters[$0][rank] },
                                          headers: (0..<size).flatMap { slot.parameters[$0][first..<first + length] })
            let buffer = output(arrival)
            do {
                try CollectiveArguments.checkArrivalBuffer(buffer.count, arrival: arrival, group: name)
                pull(from: slot, receiveCounts: arrival.receiveCounts, into: buffer)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    func barrier() throws {
        try runNow { [self] sequence in
            try exchange(sequence, CallSignature(operation: "barrier", byteCount: nil)) { _ in }
        }
    }

    func split(color: Int, key: Int, name: String) throws -> (any Communicator)? {
        let sequence = takeSequence()
        let signature = CallSignature(operation: "split", byteCount: nil)
        var result: ThreadCommunicator?
        try exchange(sequence, signature, publish: { slot in
            slot.parameters[self.rank] = [color, key]
            slot.labels[self.rank] = name
        }) { slot in
            result = group.universe.lock.withLock {
                if slot.splitGroups == nil { formSplitGroupsLocked(slot) }
                return slot.splitGroups![color].map { ThreadCommunicator(group: $0, rank: slot.splitRanks[rank]) }
            }
        }
        return result
    }

    func send(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        try checkRank(destination, role: "destination", operation: "send")
        try group.send(buffer, from: rank, to: destination, tag: tag)
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws {
        try checkRank(source, role: "source", operation: "receive")
        let receive = try group.postReceive(into: buffer, from: source, to: rank, tag: tag)
        try group.wait(for: receive)
    }

    // MARK: Non-blocking

    func startAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) throws -> any CollectiveRequest {
        runInBackground(allReduceWork(buffer, operation: operation))
    }

    func startAllGather(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> any CollectiveRequest {
        try runInBackground(allGatherWork(input, into: output))
    }

    func startReduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                            operation: ReduceOperation) throws -> any CollectiveRequest {
        try runInBackground(reduceScatterWork(input, into: output, operation: operation))
    }

    func startAllToAll(_ input: UnsafeRawBufferPointer, sendCounts: [Int],
                       into output: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws -> any CollectiveRequest {
        try runInBackground(allToAllWork(input, sendCounts: sendCounts, into: output, receiveCounts: receiveCounts))
    }

    /// Sends are buffered (or copied straight into a receive already posted), so they complete at once.
    func startSend(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws -> any CollectiveRequest {
        try send(buffer, to: destination, tag: tag)
        return CompletedRequest()
    }

    func startReceive(into buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws -> any CollectiveRequest {
        try checkRank(source, role: "source", operation: "receive")
        return ReceiveRequest(group: group, receive: try group.postReceive(into: buffer, from: source, to: rank, tag: tag))
    }

    // MARK: The work of each collective, validated and waiting for a sequence number

    typealias Work = (Int) throws -> Void

    /// Up to this much reading per rank (buffer × ranks), an all-reduce is cheaper replicated than sliced.
    static let replicatedReductionBytes = 64 << 10

    /// Reduce-scatter then all-gather over shared memory: rank `r` reduces slice `r` of every rank's buffer
    /// (reading N slices, writing one, in rank order) into its own buffer; after a barrier it copies the
    /// other N-1 reduced slices from their owners; a second barrier keeps every buffer alive until all
    /// copies are done. Each element is reduced exactly once, so all ranks get identical bits. Small
    /// buffers (decode's per-layer sums: hidden × batch floats) are copied into the slot on arrival and every
    /// rank reduces all the copies in rank order into its own buffer (same order, same bits): one meeting
    /// instead of two, since no rank reads a peer's buffer.
    private func allReduceWork(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) -> Work {
        let signature = CallSignature(operation: "allReduce", byteCount: buffer.count * 4, arguments: operation.rawValue)
        return { [self] sequence in
            guard size > 1 else { return }
            let replicated = buffer.count * 4 * size <= Self.replicatedReductionBytes
            let slot = try group.arrive(rank: rank, sequence: sequence, signature: signature) {
                if replicated {
                    $0.stage(UnsafeBufferPointer(buffer), rank: self.rank)
                } else {
                    $0.outputs[self.rank] = UnsafeMutableRawPointer(buffer.baseAddress)
                }
            }
            guard let base = buffer.baseAddress, buffer.count > 0 else { return }
            if replicated {
                let staged = slot.staged!, count = buffer.count
                Reduction.reduce((0..<size).map { UnsafePointer(staged + $0 * count) }, count: count, operation: operation, into: base)
                return
            }
            let sources = slot.outputs.map { UnsafePointer($0!.assumingMemoryBound(to: Float.self)) }
            let mine = Self.slice(rank, of: buffer.count, parts: size)
            Reduction.reduce(sources.map { $0 + mine.lowerBound }, count: mine.count, operation: operation,
                             into: base + mine.lowerBound)
            group.finishPhase(0, of: slot)
            for owner in 0..<size where owner != rank {
                let slice = Self.slice(owner, of: buffer.count, parts: size)
                (base + slice.lowerBound).update(from: sources[owner] + slice.lowerBound, count: slice.count)
            }
            group.finishPhase(1, of: slot)
        }
    }

    /// Rank `r` reduces block `r` of every rank's input straight into its output.
    private func reduceScatterWork(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                                   operation: ReduceOperation) throws -> Work {
        try CollectiveArguments.checkReduceScatter(input: input.count, output: output.count, group: name, size: size)
        let signature = CallSignature(operation: "reduceScatter", byteCount: output.count * 4, arguments: operation.rawValue)
        return { [self] sequence in
            let count = output.count
            try exchange(sequence, signature, publish: { $0.inputs[self.rank] = UnsafeRawPointer(input.baseAddress) }) { slot in
                guard count > 0 else { return }
                let sources = slot.inputs.map { $0!.assumingMemoryBound(to: Float.self) + rank * count }
                Reduction.reduce(sources, count: count, operation: operation, into: output.baseAddress!)
            }
        }
    }

    /// Every rank copies every rank's input into its own output.
    private func allGatherWork(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> Work {
        try CollectiveArguments.checkAllGather(input: input.count, output: output.count, group: name, size: size)
        let signature = CallSignature(operation: "allGather", byteCount: input.count)
        return { [self] sequence in
            let count = input.count
            try exchange(sequence, signature, publish: { $0.inputs[self.rank] = input.baseAddress }) { slot in
                guard count > 0 else { return }
                for source in 0..<size where slot.inputs[source]! != UnsafeRawPointer(output.baseAddress! + source * count) {
                    (output.baseAddress! + source * count).copyMemory(from: slot.inputs[source]!, byteCount: count)
                }
            }
        }
    }

    /// Copies this rank's piece of every rank's published input (its send counts lead its slot parameters) into
    /// `output`, in rank order; `skipping` a source whose piece is already there.
    func pull(from slot: CollectiveSlot, receiveCounts: [Int], into output: UnsafeMutableRawBufferPointer, skipping: Int? = nil) {
        let offsets = CollectiveArguments.offsets(receiveCounts)
        for source in 0..<size where receiveCounts[source] > 0 && source != skipping {
            let sourceOffset = slot.parameters[source][..<rank].reduce(0, +)
            (output.baseAddress! + offsets[source]).copyMemory(from: slot.inputs[source]! + sourceOffset, byteCount: receiveCounts[source])
        }
    }

    // MARK: Plumbing

    /// Arrives at `sequence`, runs this rank's single step of the collective, then waits for the others so
    /// no buffer is released while a peer may still read it. A group of one runs the step alone.
    private func exchange(_ sequence: Int, _ signature: CallSignature, publish: (CollectiveSlot) -> Void = { _ in },
                          step: (CollectiveSlot) throws -> Void) throws {
        guard size > 1 else {
            let slot = CollectiveSlot(size: 1, sequence: sequence)
            publish(slot)
            try step(slot)
            return
        }
        let slot = try group.arrive(rank: rank, sequence: sequence, signature: signature, publish: publish)
        // A step that throws (a mismatch every rank sees) has not touched any buffer.
        try step(slot)
        group.finishPhase(0, of: slot)
    }

    /// Creates the groups of a split from every rank's `(color, key)`. Universe lock held.
    private func formSplitGroupsLocked(_ slot: CollectiveSlot) {
        var groups: [Int: ThreadGroupState] = [:]
        var newRanks = Array(repeating: -1, count: slot.size)
        let colors = Set(slot.parameters.map { $0[0] }).filter { $0 >= 0 }
        for color in colors.sorted() {
            let ordered = (0..<slot.size).filter { slot.parameters[$0][0] == color }
                .sorted { (slot.parameters[$0][1], $0) < (slot.parameters[$1][1], $1) }
            for (newRank, oldRank) in ordered.enumerated() { newRanks[oldRank] = newRank }
            groups[color] = ThreadGroupState(universe: group.universe, name: slot.labels[ordered[0]],
                                             members: ordered.map { group.members[$0] }, deadline: deadline)
        }
        slot.splitGroups = groups
        slot.splitRanks = newRanks
    }

    private func takeSequence() -> Int {
        group.universe.lock.withLock {
            defer { nextSequence += 1 }
            return nextSequence
        }
    }

    private func runNow(_ work: Work) throws {
        try work(takeSequence())
    }

    private func runInBackground(_ work: @escaping Work) -> any CollectiveRequest {
        let sequence = takeSequence()
        let request = EngineRequest(lock: group.universe.lock, signal: group.signal)
        let job = UncheckedSendable(work)
        group.universe.lock.withLock {
            if engine == nil { engine = ProgressEngine(universe: group.universe) }
            engine!.submitLocked {
                do {
                    try job.value(sequence)
                    request.finish(error: nil)
                } catch {
                    request.finish(error: error)
                }
            }
        }
        return request
    }

    private func checkRank(_ peer: Int, role: String, operation: String) throws {
        try CollectiveArguments.checkPeer(peer, role: role, group: name, size: size, operation: operation)
    }

    /// Slice `part` of `count` elements cut into `parts` pieces whose bounds fall on 64-byte lines, so
    /// ranks writing neighbouring slices never share a cache line.
    static func slice(_ part: Int, of count: Int, parts: Int) -> Range<Int> {
        let chunk = ((count + parts - 1) / parts + 15) & ~15
        let lower = min(part * chunk, count)
        return lower..<min(lower + chunk, count)
    }
}

/// Carries a value the compiler cannot prove `Sendable` (a closure over buffer pointers) to the progress
/// thread; the caller's contract (buffers untouched until `wait()`) makes the hand-over safe.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
