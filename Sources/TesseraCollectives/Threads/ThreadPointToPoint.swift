/// The messages from one rank to another with one tag, in order (MPI's non-overtaking rule).
package struct ChannelKey: Hashable {
    package let source: Int, destination: Int, tag: Int

    package init(source: Int, destination: Int, tag: Int) {
        self.source = source
        self.destination = destination
        self.tag = tag
    }
}

/// A message channel: either sends waiting for receives (buffered copies) or receives waiting for sends
/// (posted buffers), never both at once.
final class Channel {
    var buffered: [UnsafeMutableRawBufferPointer] = []
    var posted: [PostedReceive] = []
    var sentCount = 0
    var receivedCount = 0

    deinit {
        for message in buffered { message.deallocate() }
    }
}

/// A receive buffer a sender copies into; its state is guarded by the universe lock.
final class PostedReceive: @unchecked Sendable {
    enum State { case waiting, transferring, done }
    let buffer: UnsafeMutableRawBufferPointer
    let key: ChannelKey
    let sequence: Int
    var state = State.waiting
    var error: CollectiveError?

    init(buffer: UnsafeMutableRawBufferPointer, key: ChannelKey, sequence: Int) {
        self.buffer = buffer
        self.key = key
        self.sequence = sequence
    }

    var operation: String { "receive(from: \(key.source), tag: \(key.tag))" }
}

/// Tagged point-to-point messages. A send never waits for its receive: it copies straight into a receive
/// already posted, or into a buffer the receive later copies out of. So no send-before-receive pattern
/// can deadlock; a receive waits at most the deadline.
extension ThreadGroupState {
    func send(_ buffer: UnsafeRawBufferPointer, from source: Int, to destination: Int, tag: Int) throws {
        let key = ChannelKey(source: source, destination: destination, tag: tag)
        let operation = "send(to: \(destination), tag: \(tag))"
        let lock = universe.lock
        lock.lock()
        defer { lock.unlock() }
        let channel = channelLocked(key)
        let sequence = channel.sentCount
        channel.sentCount += 1
        if let error = releaseErrorLocked(operation: operation, sequence: sequence) { throw error }
        if exitedRankLocked(among: [destination]) != nil {
            throw failLocked(rank: source, .peerFailed(
                group: name, operation: operation, sequence: sequence, rank: members[destination],
                reason: "rank \(destination) of \(name) returned from its body; nobody will receive this message"))
        }
        if !channel.posted.isEmpty {
            try deliverLocked(buffer, to: channel.posted.removeFirst(), sender: source)
            return
        }
        lock.unlock()
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count, alignment: 64)
        if buffer.count > 0 { copy.copyMemory(from: buffer) }
        lock.lock()
        // A receive may have been posted while the lock was released.
        if !channel.posted.isEmpty {
            defer { copy.deallocate() }
            try deliverLocked(UnsafeRawBufferPointer(copy), to: channel.posted.removeFirst(), sender: source)
        } else {
            channel.buffered.append(copy)
        }
    }

    /// Posts a receive, completing it at once from a buffered message if one is waiting.
    func postReceive(into buffer: UnsafeMutableRawBufferPointer, from source: Int, to destination: Int,
                     tag: Int) throws -> PostedReceive {
        let key = ChannelKey(source: source, destination: destination, tag: tag)
        let lock = universe.lock
        lock.lock()
        defer { lock.unlock() }
        let channel = channelLocked(key)
        let receive = PostedReceive(buffer: buffer, key: key, sequence: channel.receivedCount)
        channel.receivedCount += 1
        if let error = releaseErrorLocked(operation: receive.operation, sequence: receive.sequence) { throw error }
        guard !channel.buffered.isEmpty else {
            channel.posted.append(receive)
            return receive
        }
        let message = channel.buffered.removeFirst()
        defer { message.deallocate() }
        try checkSizesLocked(sent: message.count, receive: receive)
        if message.count > 0 {
            lock.unlock()
            buffer.baseAddress!.copyMemory(from: message.baseAddress!, byteCount: message.count)
            lock.lock()
        }
        receive.state = .done
        return receive
    }

    /// Waits for a posted receive to complete, at most the deadline from now.
    func wait(for receive: PostedReceive) throws {
        let deadline = deadlineFromNow()
        let lock = universe.lock
        lock.lock()
        defer { lock.unlock() }
        let source = receive.key.source
        while true {
            switch receive.state {
            case .done:
                if let error = receive.error { throw error }
                return
            case .transferring:
                // The sender is copying into the buffer: it must finish before the buffer is given back.
                signal.wait(lock, until: .max)
                continue
            case .waiting:
                break
            }
            var error = releaseErrorLocked(operation: receive.operation, sequence: receive.sequence)
            if error == nil, exitedRankLocked(among: [source]) != nil {
                error = failLocked(rank: receive.key.destination, .peerFailed(
                    group: name, operation: receive.operation, sequence: receive.sequence, rank: members[source],
                    reason: "rank \(source) of \(name) returned from its body without sending message #\(receive.sequence) with tag \(receive.key.tag)"))
            }
            if error == nil, monotonicNanoseconds() >= deadline {
                error = failLocked(rank: receive.key.destination, .timeout(
                    group: name, operation: receive.operation, sequence: receive.sequence,
                    missingRanks: [source], deadline: self.deadline))
            }
            if let error {
                channels[receive.key]?.posted.removeAll { $0 === receive }
                throw error
            }
            signal.wait(lock, until: deadline)
        }
    }

    /// Whether a posted receive has completed (successfully or not).
    func isComplete(_ receive: PostedReceive) -> Bool {
        universe.lock.withLock { receive.state == .done }
    }

    private func channelLocked(_ key: ChannelKey) -> Channel {
        if let channel = channels[key] { return channel }
        let channel = Channel()
        channels[key] = channel
        return channel
    }

    /// Copies a message into a posted receive, releasing the lock during the copy. Lock held.
    private func deliverLocked(_ message: UnsafeRawBufferPointer, to receive: PostedReceive, sender: Int) throws {
        defer { signal.notifyLocked() }
        do {
            try checkSizesLocked(sent: message.count, receive: receive)
        } catch let error as CollectiveError {
            receive.error = error
            receive.state = .done
            throw error
        }
        if message.count > 0 {
            receive.state = .transferring
            universe.lock.unlock()
            receive.buffer.baseAddress!.copyMemory(from: message.baseAddress!, byteCount: message.count)
            universe.lock.lock()
        }
        receive.state = .done
    }

    /// Throws (and records) a mismatch when a message's size differs from the receive buffer's. Lock held.
    private func checkSizesLocked(sent: Int, receive: PostedReceive) throws {
        guard sent != receive.buffer.count else { return }
        throw failLocked(rank: receive.key.destination, .mismatch(
            group: name, operation: receive.operation, sequence: receive.sequence,
            detail: "rank \(receive.key.source) sent \(sent) bytes with tag \(receive.key.tag), rank \(receive.key.destination) receives into \(receive.buffer.count) bytes"))
    }
}
