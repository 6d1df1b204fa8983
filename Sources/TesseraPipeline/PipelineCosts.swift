/// How long each action takes, for ``PipelineSimulator``.
///
/// Times are per action: one micro-batch through one model chunk (with v virtual stages a chunk holds
/// 1/v of a rank's layers, so pass per-chunk times). Each table holds one value (uniform), one per rank
/// (every chunk of the rank costs the same) or one per model chunk (`stages · virtualStages`, indexed by
/// model chunk `c · stages + r`). Any unit works; ``PipelineSimulation`` reports in the same unit.
///
/// The backward follows Qi et al. 2023: `backwardInput` is B (the input gradient), `backwardWeight` is W.
/// A schedule that does not split the backward runs B + W as one action. Without W, B is the whole
/// backward: non-split schedules use B, and split schedules run B/2 and B/2.
public struct PipelineCosts: Hashable, Codable, Sendable, CustomStringConvertible {
    /// F: one forward.
    public var forward: [Double]
    /// B: the input-gradient part of a backward, or the whole backward when `backwardWeight` is `nil`.
    public var backwardInput: [Double]
    /// W: the weight-gradient part of a backward; `nil` when B is the whole backward.
    public var backwardWeight: [Double]?
    /// From posting a send to the data being available at the receiver.
    public var transfer: Double

    /// Uniform costs; the defaults (F = 1, B = 2, free transfers) are the common "backward takes twice
    /// the forward" rule of thumb.
    public init(forward: Double = 1, backwardInput: Double = 2, backwardWeight: Double? = nil, transfer: Double = 0) {
        self.init(forward: [forward], backwardInput: [backwardInput], backwardWeight: backwardWeight.map { [$0] },
                  transfer: transfer)
    }

    /// Per-rank or per-model-chunk costs (see the type's documentation for the accepted counts).
    public init(forward: [Double], backwardInput: [Double], backwardWeight: [Double]? = nil, transfer: Double = 0) {
        self.forward = forward
        self.backwardInput = backwardInput
        self.backwardWeight = backwardWeight
        self.transfer = transfer
    }

    /// Whether every table holds a single value.
    public var isUniform: Bool { forward.count == 1 && backwardInput.count == 1 && (backwardWeight?.count ?? 1) == 1 }

    /// The time of a compute action of `kind` on `modelChunk` of `schedule`.
    public func duration(of kind: PipelineComputeKind, modelChunk: Int, in schedule: PipelineSchedule) -> Double {
        func value(_ table: [Double]) -> Double {
            switch table.count {
            case 1: return table[0]
            case schedule.modelChunks: return table[modelChunk]
            default: return table[modelChunk % schedule.stages]
            }
        }
        let input = value(backwardInput), weight = backwardWeight.map(value)
        switch kind {
        case .forward: return value(forward)
        case .backward: return input + (weight ?? 0)
        case .backwardInput: return weight == nil ? input / 2 : input
        case .backwardWeight: return weight ?? input / 2
        }
    }

    /// - Throws: ``PipelineError/invalidCosts(reason:)`` when a table has a count other than 1, `stages` or
    ///   `stages · virtualStages`, or holds a negative or non-finite time.
    public func validate(for schedule: PipelineSchedule) throws {
        let counts = Set([1, schedule.stages, schedule.modelChunks]).sorted().map(String.init).joined(separator: ", ")
        for (name, table) in [("forward", forward), ("backward", backwardInput), ("weight", backwardWeight ?? [0])] {
            guard [1, schedule.stages, schedule.modelChunks].contains(table.count) else {
                throw PipelineError.invalidCosts(
                    reason: "\(table.count) \(name) times for \(schedule.stages) stages × \(schedule.virtualStages) chunks; give \(counts) values")
            }
            if let bad = table.first(where: { !$0.isFinite || $0 < 0 }) {
                throw PipelineError.invalidCosts(reason: "\(name) time \(bad) must be a finite number ≥ 0")
            }
        }
        guard transfer.isFinite, transfer >= 0 else {
            throw PipelineError.invalidCosts(reason: "transfer time \(transfer) must be a finite number ≥ 0")
        }
    }

    public var description: String {
        func show(_ table: [Double]) -> String {
            table.count == 1 ? formatNumber(table[0]) : "[" + table.map(formatNumber).joined(separator: ",") + "]"
        }
        return "F=\(show(forward)) B=\(show(backwardInput)) W=\(backwardWeight.map(show) ?? "-") p2p=\(formatNumber(transfer))"
    }
}

/// A number with at most three decimals and no trailing zeros, for labels and reports.
func formatNumber(_ value: Double) -> String {
    let rounded = (value * 1000).rounded() / 1000
    if rounded == rounded.rounded() && abs(rounded) < 1e15 { return String(Int(rounded)) }
    var text = String(rounded)
    while text.hasSuffix("0") { text.removeLast() }
    return text
}
