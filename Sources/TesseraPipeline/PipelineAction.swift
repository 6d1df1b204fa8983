/// The compute work of one action: a forward, a whole backward, or one half of a split backward.
public enum PipelineComputeKind: String, CaseIterable, Codable, Sendable {
    /// The forward pass of one micro-batch through one chunk; its activations stay until the backward.
    case forward
    /// The whole backward (input and weight gradients together), as GPipe, 1F1B and interleaved 1F1B run it.
    case backward
    /// The input-gradient half of a split backward ("B" in Qi et al. 2023): it produces the gradient the
    /// previous stage waits for.
    case backwardInput
    /// The weight-gradient half of a split backward ("W"): nothing downstream waits for it, so zero-bubble
    /// schedules defer it into idle time. It frees the micro-batch's activations.
    case backwardWeight

    /// The one-letter symbol used in pictures and labels: F, B (whole or input half) and W.
    public var symbol: String {
        switch self {
        case .forward: return "F"
        case .backward, .backwardInput: return "B"
        case .backwardWeight: return "W"
        }
    }
}

/// One rank's chunk: the endpoint of a point-to-point transfer.
public struct PipelineLocation: Hashable, Codable, Sendable, CustomStringConvertible {
    /// The pipeline rank (stage), `0..<stages`.
    public var rank: Int
    /// The local chunk on that rank, `0..<virtualStages`; it holds model chunk `chunk · stages + rank`.
    public var chunk: Int

    public init(rank: Int, chunk: Int) {
        self.rank = rank
        self.chunk = chunk
    }

    public var description: String { "rank \(rank) chunk \(chunk)" }
}

/// A point-to-point message between adjacent model chunks: an activation going forward or a gradient
/// going backward, for one micro-batch.
///
/// The same value appears in the sender's ``PipelineAction/send(_:)`` and the receiver's
/// ``PipelineAction/receive(_:)``, so matching is equality. The sender reads the output of
/// `source.chunk` and posts it to `destination.rank`; the receiver fills the input slot of
/// `destination.chunk` from `source.rank`. Use ``PipelineSchedule/tag(of:)`` as the message tag.
public struct PipelineTransfer: Hashable, Codable, Sendable, CustomStringConvertible {
    /// What travels: a forward activation or the gradient with respect to it.
    public enum Kind: String, CaseIterable, Codable, Sendable {
        /// The output of a forward, sent from model chunk `s` to `s + 1`.
        case activation
        /// The gradient of a chunk's input, sent from model chunk `s` to `s − 1`.
        case gradient
    }

    public var kind: Kind
    public var microBatch: Int
    /// The rank and chunk that produced the data.
    public var source: PipelineLocation
    /// The rank and chunk that consume it.
    public var destination: PipelineLocation

    public init(kind: Kind, microBatch: Int, source: PipelineLocation, destination: PipelineLocation) {
        self.kind = kind
        self.microBatch = microBatch
        self.source = source
        self.destination = destination
    }

    /// The local chunk this transfer touches on `rank`: the source chunk on the sender, the destination
    /// chunk on the receiver.
    public func chunk(onRank rank: Int) -> Int {
        rank == source.rank ? source.chunk : destination.chunk
    }

    public var description: String {
        "\(kind) of micro-batch \(microBatch) from \(source) to \(destination)"
    }
}

/// One step of a rank's schedule, in the order the executor performs them.
///
/// Compute actions name a micro-batch and a local chunk. Transfers are non-blocking sends (buffered: they
/// never wait) and receives that block until the matching send has been posted; both are placed where
/// the data must move, so an executor runs a schedule by walking the list and doing exactly what it says.
public enum PipelineAction: Hashable, Codable, Sendable, CustomStringConvertible {
    case forward(microBatch: Int, chunk: Int)
    /// Whole backward: input and weight gradients together.
    case backward(microBatch: Int, chunk: Int)
    /// Input-gradient half of a split backward (B).
    case backwardInput(microBatch: Int, chunk: Int)
    /// Weight-gradient half of a split backward (W); comes after the B of the same micro-batch and chunk.
    case backwardWeight(microBatch: Int, chunk: Int)
    /// Post a non-blocking send of `transfer` to `transfer.destination.rank`.
    case send(PipelineTransfer)
    /// Wait for `transfer` from `transfer.source.rank`.
    case receive(PipelineTransfer)

    /// A compute action of `kind`.
    public init(_ kind: PipelineComputeKind, microBatch: Int, chunk: Int) {
        switch kind {
        case .forward: self = .forward(microBatch: microBatch, chunk: chunk)
        case .backward: self = .backward(microBatch: microBatch, chunk: chunk)
        case .backwardInput: self = .backwardInput(microBatch: microBatch, chunk: chunk)
        case .backwardWeight: self = .backwardWeight(microBatch: microBatch, chunk: chunk)
        }
    }

    /// The compute kind, micro-batch and chunk of a compute action; `nil` for transfers.
    public var compute: (kind: PipelineComputeKind, microBatch: Int, chunk: Int)? {
        switch self {
        case let .forward(microBatch, chunk): return (.forward, microBatch, chunk)
        case let .backward(microBatch, chunk): return (.backward, microBatch, chunk)
        case let .backwardInput(microBatch, chunk): return (.backwardInput, microBatch, chunk)
        case let .backwardWeight(microBatch, chunk): return (.backwardWeight, microBatch, chunk)
        case .send, .receive: return nil
        }
    }

    /// The transfer of a send or receive; `nil` for compute actions.
    public var transfer: PipelineTransfer? {
        switch self {
        case let .send(transfer), let .receive(transfer): return transfer
        default: return nil
        }
    }

    /// A short label: `F3`, `B3`, `W3` (with `.c` for chunk `c` > 0, e.g. `F3.1`), `→a3`/`←g3` for transfers.
    public var label: String {
        if let (kind, microBatch, chunk) = compute {
            return kind.symbol + "\(microBatch)" + (chunk > 0 ? ".\(chunk)" : "")
        }
        switch self {
        case let .send(transfer): return "send \(transfer.kind == .activation ? "a" : "g")\(transfer.microBatch)"
        case let .receive(transfer): return "recv \(transfer.kind == .activation ? "a" : "g")\(transfer.microBatch)"
        default: return ""
        }
    }

    public var description: String {
        switch self {
        case let .forward(microBatch, chunk): return "forward(micro-batch \(microBatch), chunk \(chunk))"
        case let .backward(microBatch, chunk): return "backward(micro-batch \(microBatch), chunk \(chunk))"
        case let .backwardInput(microBatch, chunk): return "backwardInput(micro-batch \(microBatch), chunk \(chunk))"
        case let .backwardWeight(microBatch, chunk): return "backwardWeight(micro-batch \(microBatch), chunk \(chunk))"
        case let .send(transfer): return "send \(transfer)"
        case let .receive(transfer): return "receive \(transfer)"
        }
    }
}
