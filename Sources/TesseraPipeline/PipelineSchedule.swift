/// The pipeline schedules Tessera generates.
public enum PipelineScheduleKind: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// GPipe (Huang et al. 2019): every forward, then every backward. Holds all `m` micro-batches.
    case gpipe
    /// 1F1B / PipeDream-Flush (Narayanan et al. 2021): rank `r` runs `p − r − 1` warm-up forwards, then
    /// alternates one forward and one backward. Holds at most `p` micro-batches.
    case oneForwardOneBackward = "1f1b"
    /// Interleaved 1F1B (Narayanan et al. 2021, Megatron-LM's ordering): each rank holds `v` model chunks,
    /// chunk `c` of rank `r` being model chunk `c · p + r`; the bubble shrinks by about `1/v`.
    case interleaved
    /// ZB-H1 (Qi et al. 2023, "Zero Bubble Pipeline Parallelism"): the backward is split into B (input
    /// gradient) and W (weight gradient); W is deferred into the cool-down bubble, peak memory as 1F1B.
    case zeroBubbleH1 = "zb-h1"

    /// Parses a CLI name (`gpipe`, `1f1b`, `interleaved`, `zb-h1`).
    /// - Throws: ``PipelineError/unknownSchedule(name:)`` listing the valid names.
    public init(name: String) throws {
        guard let kind = PipelineScheduleKind(rawValue: name.lowercased()) else {
            throw PipelineError.unknownSchedule(name: name)
        }
        self = kind
    }

    /// Whether the schedule splits the backward into B and W actions.
    public var splitsBackward: Bool { self == .zeroBubbleH1 }

    public var description: String {
        switch self {
        case .gpipe: return "GPipe"
        case .oneForwardOneBackward: return "1F1B"
        case .interleaved: return "interleaved 1F1B"
        case .zeroBubbleH1: return "ZB-H1"
        }
    }
}

/// Which schedule to run, on how many stages, with how many micro-batches and virtual stages.
///
/// Validated on construction (and on decoding), so a value of this type always generates a schedule.
public struct PipelineScheduleConfig: Hashable, Codable, Sendable, CustomStringConvertible {
    public let kind: PipelineScheduleKind
    /// Pipeline ranks `p` (≥ 1; ≥ 2 for interleaved).
    public let stages: Int
    /// Micro-batches per step `m` (≥ 1; a multiple of `p` for interleaved).
    public let microBatches: Int
    /// Model chunks per rank `v` (1 except for interleaved).
    public let virtualStages: Int

    /// - Throws: ``PipelineError/invalidParameter(name:value:fix:)`` when `stages`, `microBatches` or
    ///   `virtualStages` is below 1, when `virtualStages > 1` for a schedule other than interleaved, or when
    ///   interleaved 1F1B gets fewer than 2 stages or a micro-batch count that is not a multiple of `stages`.
    public init(kind: PipelineScheduleKind, stages: Int, microBatches: Int, virtualStages: Int = 1) throws {
        guard stages >= 1 else {
            throw PipelineError.invalidParameter(name: "stages", value: stages, fix: "use at least 1 pipeline stage")
        }
        guard microBatches >= 1 else {
            throw PipelineError.invalidParameter(name: "micro-batches", value: microBatches,
                                                 fix: "use at least 1 micro-batch (at least \(stages) keeps every stage busy)")
        }
        guard virtualStages >= 1 else {
            throw PipelineError.invalidParameter(name: "virtual-stages", value: virtualStages,
                                                 fix: "use at least 1 model chunk per stage")
        }
        if kind == .interleaved {
            guard stages >= 2 else {
                throw PipelineError.invalidParameter(
                    name: "stages", value: stages,
                    fix: "interleaved 1F1B sends between chunks on different ranks and needs at least 2 stages; use 1f1b or gpipe for 1 stage")
            }
            // Megatron-LM's interleaved ordering runs micro-batches in groups of p per chunk.
            guard microBatches % stages == 0 else {
                let choices = (1...4).map { String($0 * stages) }.joined(separator: ", ")
                throw PipelineError.invalidParameter(
                    name: "micro-batches", value: microBatches,
                    fix: "interleaved 1F1B needs the number of micro-batches to be a multiple of the number of stages (\(stages)); use \(choices), …")
            }
        } else if virtualStages != 1 {
            throw PipelineError.invalidParameter(
                name: "virtual-stages", value: virtualStages,
                fix: "only the interleaved schedule has virtual stages; use the interleaved schedule or 1 virtual stage with \(kind.rawValue)")
        }
        self.kind = kind
        self.stages = stages
        self.microBatches = microBatches
        self.virtualStages = virtualStages
    }

    private enum CodingKeys: String, CodingKey { case kind, stages, microBatches, virtualStages }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(kind: container.decode(PipelineScheduleKind.self, forKey: .kind),
                      stages: container.decode(Int.self, forKey: .stages),
                      microBatches: container.decode(Int.self, forKey: .microBatches),
                      virtualStages: container.decodeIfPresent(Int.self, forKey: .virtualStages) ?? 1)
    }

    public var description: String {
        "\(kind) p=\(stages) m=\(microBatches)" + (kind == .interleaved ? " v=\(virtualStages)" : "")
    }
}

/// A pipeline schedule as data: for each rank, the ordered list of actions it performs in one step.
///
/// The model is cut into `stages · virtualStages` model chunks; rank `r`'s local chunk `c` holds model
/// chunk `c · stages + r` (Megatron's placement). Model chunk 0 holds the embedding, the last one the
/// loss. One executor runs any schedule; ``PipelineSimulator`` times it; ``PipelineScheduleChecker``
/// proves its invariants without running a model.
public struct PipelineSchedule: Hashable, Codable, Sendable {
    /// A short name for pictures and reports, e.g. `"1F1B"`.
    public var name: String
    public var stages: Int
    public var microBatches: Int
    public var virtualStages: Int
    /// `actions[rank]`: what that rank does, in order.
    public var actions: [[PipelineAction]]

    /// A schedule from raw actions, not checked (use ``PipelineScheduleChecker`` to check it).
    public init(name: String, stages: Int, microBatches: Int, virtualStages: Int = 1, actions: [[PipelineAction]]) {
        self.name = name
        self.stages = stages
        self.microBatches = microBatches
        self.virtualStages = virtualStages
        self.actions = actions
    }

    /// Generates the schedule `config` describes, transfers included.
    public init(_ config: PipelineScheduleConfig) {
        let p = config.stages, m = config.microBatches, v = config.virtualStages
        let order: [[PipelineAction]]
        switch config.kind {
        case .gpipe: order = (0..<p).map { _ in ScheduleOrder.gpipe(microBatches: m) }
        case .oneForwardOneBackward:
            order = (0..<p).map { ScheduleOrder.oneForwardOneBackward(rank: $0, stages: p, microBatches: m) }
        case .interleaved:
            order = (0..<p).map { ScheduleOrder.interleaved(rank: $0, stages: p, microBatches: m, virtualStages: v) }
        case .zeroBubbleH1:
            order = (0..<p).map { ScheduleOrder.zeroBubbleH1(rank: $0, stages: p, microBatches: m) }
        }
        self.init(name: config.kind.description, stages: p, microBatches: m, virtualStages: v, actions: [])
        actions = order.enumerated().map { rank, compute in placingTransfers(rank: rank, compute: compute) }
    }

    /// Validates the parameters and generates the schedule.
    /// - Throws: ``PipelineError/invalidParameter(name:value:fix:)`` as ``PipelineScheduleConfig`` does.
    public init(_ kind: PipelineScheduleKind, stages: Int, microBatches: Int, virtualStages: Int = 1) throws {
        self.init(try PipelineScheduleConfig(kind: kind, stages: stages, microBatches: microBatches,
                                             virtualStages: virtualStages))
    }

    /// Number of model chunks, `stages · virtualStages`.
    public var modelChunks: Int { stages * virtualStages }

    /// The model chunk (0 = holds the embedding, `modelChunks − 1` = holds the loss) at `location`.
    public func modelChunk(at location: PipelineLocation) -> Int { location.chunk * stages + location.rank }

    /// The rank and local chunk that hold `modelChunk`.
    public func location(ofModelChunk modelChunk: Int) -> PipelineLocation {
        PipelineLocation(rank: modelChunk % stages, chunk: modelChunk / stages)
    }

    /// A message tag unique to `transfer` within one step, `0..<2 · microBatches · modelChunks`, to pass as
    /// the `tag` of the communicator's `send`/`receive` (MPI guarantees tags up to 32767).
    public func tag(of transfer: PipelineTransfer) -> Int {
        let destination = modelChunk(at: transfer.destination)
        return (transfer.microBatch * modelChunks + destination) * 2 + (transfer.kind == .activation ? 0 : 1)
    }

    /// Whether any action is a split-backward half (B or W).
    public var splitsBackward: Bool {
        actions.joined().contains { [.backwardInput, .backwardWeight].contains($0.compute?.kind) }
    }

    /// The transfer a compute action at `location` must receive before it runs, if any: the activation
    /// from the previous model chunk for a forward, the output gradient from the next one for a backward.
    public func input(of kind: PipelineComputeKind, microBatch: Int, at location: PipelineLocation) -> PipelineTransfer? {
        let here = modelChunk(at: location)
        switch kind {
        case .forward where here > 0:
            return PipelineTransfer(kind: .activation, microBatch: microBatch,
                                    source: self.location(ofModelChunk: here - 1), destination: location)
        case .backward where here < modelChunks - 1, .backwardInput where here < modelChunks - 1:
            return PipelineTransfer(kind: .gradient, microBatch: microBatch,
                                    source: self.location(ofModelChunk: here + 1), destination: location)
        default:
            return nil
        }
    }

    /// The transfer a compute action at `location` must send after it runs, if any.
    public func output(of kind: PipelineComputeKind, microBatch: Int, at location: PipelineLocation) -> PipelineTransfer? {
        let here = modelChunk(at: location)
        switch kind {
        case .forward where here < modelChunks - 1:
            return PipelineTransfer(kind: .activation, microBatch: microBatch,
                                    source: location, destination: self.location(ofModelChunk: here + 1))
        case .backward where here > 0, .backwardInput where here > 0:
            return PipelineTransfer(kind: .gradient, microBatch: microBatch,
                                    source: location, destination: self.location(ofModelChunk: here - 1))
        default:
            return nil
        }
    }

    /// Surrounds each compute action with its transfers: the receive just before the action that consumes
    /// the data (so a rank waits only when it must) and the non-blocking send just after the producer.
    func placingTransfers(rank: Int, compute: [PipelineAction]) -> [PipelineAction] {
        var placed: [PipelineAction] = []
        placed.reserveCapacity(compute.count * 3)
        for action in compute {
            guard let (kind, microBatch, chunk) = action.compute else { continue }
            let location = PipelineLocation(rank: rank, chunk: chunk)
            if let incoming = input(of: kind, microBatch: microBatch, at: location) { placed.append(.receive(incoming)) }
            placed.append(action)
            if let outgoing = output(of: kind, microBatch: microBatch, at: location) { placed.append(.send(outgoing)) }
        }
        return placed
    }
}
