/// One way a schedule breaks the contract an executor relies on.
public enum PipelineScheduleViolation: Hashable, Sendable, CustomStringConvertible {
    /// The schedule's shape is wrong (parameters below 1, a rank list missing or extra).
    case malformed(reason: String)
    /// An action names a micro-batch, chunk or rank outside the schedule.
    case outOfRange(rank: Int, action: PipelineAction)
    /// A compute action for one micro-batch and chunk occurs `count` times instead of exactly once.
    case computeCount(rank: Int, kind: PipelineComputeKind, microBatch: Int, chunk: Int, count: Int)
    /// A micro-batch and chunk has both a whole backward and split B/W halves.
    case mixedBackward(rank: Int, microBatch: Int, chunk: Int)
    /// `action` comes before `mustFollow` on `rank` (a backward before its forward, W before B, a send before
    /// the data is computed, a compute before its input is received).
    case outOfOrder(rank: Int, action: PipelineAction, mustFollow: PipelineAction)
    /// A transfer posted on the wrong rank or between chunks that are not adjacent in the model.
    case misplacedTransfer(rank: Int, action: PipelineAction, reason: String)
    /// A transfer that is not sent exactly once and received exactly once.
    case unmatchedTransfer(PipelineTransfer, sends: Int, receives: Int)
    /// Run under the executor's semantics, these ranks wait forever on these receives.
    case deadlock(ranks: [Int], waitingFor: [PipelineTransfer])

    public var description: String {
        switch self {
        case let .malformed(reason):
            return "malformed schedule: \(reason)"
        case let .outOfRange(rank, action):
            return "rank \(rank): \(action) is outside the schedule's micro-batches, chunks or ranks"
        case let .computeCount(rank, kind, microBatch, chunk, count):
            return "rank \(rank): \(kind) of micro-batch \(microBatch), chunk \(chunk) occurs \(count) times instead of once"
        case let .mixedBackward(rank, microBatch, chunk):
            return "rank \(rank): micro-batch \(microBatch), chunk \(chunk) has both a whole backward and split B/W halves"
        case let .outOfOrder(rank, action, mustFollow):
            return "rank \(rank): \(action) comes before \(mustFollow)"
        case let .misplacedTransfer(rank, action, reason):
            return "rank \(rank): \(action): \(reason)"
        case let .unmatchedTransfer(transfer, sends, receives):
            return "\(transfer) is sent \(sends) and received \(receives) times instead of once each"
        case let .deadlock(ranks, waitingFor):
            let stuck = zip(ranks, waitingFor).map { "rank \($0) waits for \($1)" }.joined(separator: "; ")
            return "deadlock: \(stuck)"
        }
    }
}

extension PipelineSchedule {
    /// Every way this schedule breaks its invariants; empty for a valid schedule.
    ///
    /// Checked on the data alone: on each rank, each micro-batch's forward and backward occur exactly once
    /// per chunk (for a split backward, B and W once each), every backward after its forward and W after B;
    /// every activation and gradient between adjacent model chunks is sent exactly once by its source rank
    /// after it is computed and received exactly once by its destination rank before it is used; and running
    /// the schedule under the executor's semantics (buffered sends, blocking receives) ends without deadlock.
    public var violations: [PipelineScheduleViolation] {
        guard stages >= 1, microBatches >= 1, virtualStages >= 1 else {
            return [.malformed(reason: "stages (\(stages)), micro-batches (\(microBatches)) and virtual stages (\(virtualStages)) must all be at least 1")]
        }
        guard actions.count == stages else {
            return [.malformed(reason: "\(actions.count) rank action lists for \(stages) stages")]
        }
        var found: [PipelineScheduleViolation] = []
        var sends: [PipelineTransfer: Int] = [:], receives: [PipelineTransfer: Int] = [:]
        for rank in 0..<stages {
            found += rankViolations(rank: rank, sends: &sends, receives: &receives)
        }
        var transfers = Set(sends.keys).union(receives.keys)
        for microBatch in 0..<microBatches {
            for modelChunk in 0..<modelChunks {
                let location = location(ofModelChunk: modelChunk)
                for kind in [PipelineComputeKind.forward, .backward] {
                    if let transfer = input(of: kind, microBatch: microBatch, at: location) { transfers.insert(transfer) }
                }
            }
        }
        for transfer in transfers.sorted(by: { tag(of: $0) < tag(of: $1) }) {
            let sent = sends[transfer] ?? 0, received = receives[transfer] ?? 0
            if sent != 1 || received != 1 { found.append(.unmatchedTransfer(transfer, sends: sent, receives: received)) }
        }
        let unitCompute = actions.map { $0.map { $0.compute == nil ? 0.0 : 1 } }
        let run = ScheduleExecution(self, times: PipelineActionTimes(
            dispatch: unitCompute.map { Array(repeating: 0, count: $0.count) }, busy: unitCompute, transfer: 0))
        if !run.blocked.isEmpty {
            found.append(.deadlock(ranks: run.blocked.map(\.rank), waitingFor: run.blocked.map(\.transfer)))
        }
        return found
    }

    /// - Throws: ``PipelineError/invalidSchedule(violations:)`` when ``violations`` is not empty.
    public func validate() throws {
        let found = violations
        if !found.isEmpty { throw PipelineError.invalidSchedule(violations: found) }
    }

    /// Checks one rank's list: ranges, counts and order of compute, placement and order of transfers.
    private func rankViolations(rank: Int, sends: inout [PipelineTransfer: Int],
                                receives: inout [PipelineTransfer: Int]) -> [PipelineScheduleViolation] {
        var found: [PipelineScheduleViolation] = []
        // Positions of each compute kind per (micro-batch, chunk), and of each transfer on this rank.
        var positions: [PipelineComputeKind: [[Int]]] = [:]
        for kind in PipelineComputeKind.allCases { positions[kind] = Array(repeating: [], count: microBatches * virtualStages) }
        var transferPosition: [PipelineTransfer: Int] = [:]
        for (index, action) in actions[rank].enumerated() {
            if let (kind, microBatch, chunk) = action.compute {
                guard (0..<microBatches).contains(microBatch), (0..<virtualStages).contains(chunk) else {
                    found.append(.outOfRange(rank: rank, action: action)); continue
                }
                positions[kind]![microBatch * virtualStages + chunk].append(index)
            } else if let transfer = action.transfer {
                let isSend: Bool
                if case .send = action { isSend = true } else { isSend = false }
                if let problem = placementViolation(of: action, transfer: transfer, postedBy: rank, isSend: isSend) {
                    found.append(problem)
                    continue
                }
                if isSend { sends[transfer, default: 0] += 1 } else { receives[transfer, default: 0] += 1 }
                transferPosition[transfer] = transferPosition[transfer] ?? index
            }
        }
        for microBatch in 0..<microBatches {
            for chunk in 0..<virtualStages {
                let at = { (kind: PipelineComputeKind) in positions[kind]![microBatch * virtualStages + chunk] }
                let forward = at(.forward), whole = at(.backward), input = at(.backwardInput), weight = at(.backwardWeight)
                func count(_ kind: PipelineComputeKind, _ list: [Int]) {
                    if list.count != 1 {
                        found.append(.computeCount(rank: rank, kind: kind, microBatch: microBatch, chunk: chunk, count: list.count))
                    }
                }
                func order(_ later: [Int], _ laterKind: PipelineComputeKind, after earlier: [Int], _ earlierKind: PipelineComputeKind) {
                    if let late = later.first, let early = earlier.first, late < early {
                        found.append(.outOfOrder(rank: rank, action: PipelineAction(laterKind, microBatch: microBatch, chunk: chunk),
                                                 mustFollow: PipelineAction(earlierKind, microBatch: microBatch, chunk: chunk)))
                    }
                }
                count(.forward, forward)
                if !whole.isEmpty && !(input.isEmpty && weight.isEmpty) {
                    found.append(.mixedBackward(rank: rank, microBatch: microBatch, chunk: chunk))
                } else if input.isEmpty && weight.isEmpty {
                    count(.backward, whole)
                    order(whole, .backward, after: forward, .forward)
                } else {
                    count(.backwardInput, input)
                    count(.backwardWeight, weight)
                    order(input, .backwardInput, after: forward, .forward)
                    order(weight, .backwardWeight, after: input, .backwardInput)
                }
                // Data dependencies: inputs received before use, outputs sent after they exist.
                let location = PipelineLocation(rank: rank, chunk: chunk)
                for (kind, list) in [(PipelineComputeKind.forward, forward), (.backward, whole), (.backwardInput, input)] {
                    guard let position = list.first else { continue }
                    let action = PipelineAction(kind, microBatch: microBatch, chunk: chunk)
                    if let incoming = self.input(of: kind, microBatch: microBatch, at: location),
                       let received = transferPosition[incoming], received > position {
                        found.append(.outOfOrder(rank: rank, action: action, mustFollow: .receive(incoming)))
                    }
                    if let outgoing = output(of: kind, microBatch: microBatch, at: location),
                       let sent = transferPosition[outgoing], sent < position {
                        found.append(.outOfOrder(rank: rank, action: .send(outgoing), mustFollow: action))
                    }
                }
            }
        }
        return found
    }

    /// Why `rank` cannot post `action` (a send or receive of `transfer`), or `nil` when it can.
    private func placementViolation(of action: PipelineAction, transfer: PipelineTransfer, postedBy rank: Int,
                                    isSend: Bool) -> PipelineScheduleViolation? {
        let ends = [transfer.source, transfer.destination]
        guard (0..<microBatches).contains(transfer.microBatch),
              ends.allSatisfy({ (0..<stages).contains($0.rank) && (0..<virtualStages).contains($0.chunk) }) else {
            return .outOfRange(rank: rank, action: action)
        }
        let poster = isSend ? transfer.source : transfer.destination
        if poster.rank != rank {
            return .misplacedTransfer(rank: rank, action: action, reason: isSend
                ? "sent by rank \(rank), but its source is rank \(poster.rank)"
                : "received by rank \(rank), but its destination is rank \(poster.rank)")
        }
        let step = modelChunk(at: transfer.destination) - modelChunk(at: transfer.source)
        if step != (transfer.kind == .activation ? 1 : -1) {
            return .misplacedTransfer(rank: rank, action: action, reason: transfer.kind == .activation
                ? "activations go to the next model chunk, this one skips \(step)"
                : "gradients go to the previous model chunk, this one skips \(-step)")
        }
        return nil
    }
}
