/// What each action of one step of a schedule costs: the simulator's most detailed input. ``PipelineCosts``
/// gives it per kind of action (the formula model); ``PipelineMeasuredStep`` gives it action by action from
/// a real run's trace.
///
/// For rank `r` and action `i` of `schedule.actions[r]`:
/// - `dispatch[r][i]`: the time between the end of action `i − 1` and the start of action `i` (the
///   executor's own work between actions); for `i = 0`, when the rank starts its first action.
/// - `busy[r][i]`: how long the action occupies its rank: a compute action's run, a send's posting (the
///   rank cannot do anything else meanwhile), a receive's own work once its data is ready.
///
/// `transfer` is the point-to-point time: from a send's start to its data being ready at the receiver, so
/// a receive ends at `max(its start + busy, the send's start + transfer)`. Nothing else ever waits. Any
/// time unit works; simulations report in the same unit.
public struct PipelineActionTimes: Hashable, Codable, Sendable {
    public var dispatch: [[Double]]
    public var busy: [[Double]]
    public var transfer: Double

    /// - Precondition: `dispatch` and `busy` have the same shape (checked against a schedule by
    ///   ``PipelineSimulator/simulate(schedule:actionTimes:)``).
    public init(dispatch: [[Double]], busy: [[Double]], transfer: Double) {
        self.dispatch = dispatch
        self.busy = busy
        self.transfer = transfer
    }

    /// The formula model: every compute action costs what `costs` says for its kind and model chunk;
    /// sends, receives and dispatch are free; every rank starts at 0; `transfer` is `costs.transfer`.
    public init(_ costs: PipelineCosts, schedule: PipelineSchedule) {
        busy = schedule.actions.enumerated().map { rank, actions in
            actions.map { action in
                guard let (kind, _, chunk) = action.compute else { return 0 }
                return costs.duration(of: kind, modelChunk: schedule.modelChunk(at: PipelineLocation(rank: rank, chunk: chunk)),
                                      in: schedule)
            }
        }
        dispatch = busy.map { Array(repeating: 0, count: $0.count) }
        transfer = costs.transfer
    }

    /// - Throws: ``PipelineError/invalidCosts(reason:)`` when the tables do not hold one time per action of
    ///   `schedule`, or hold a negative or non-finite time.
    public func validate(for schedule: PipelineSchedule) throws {
        let counts = schedule.actions.map(\.count)
        for (name, table) in [("dispatch", dispatch), ("busy", busy)] {
            guard table.map(\.count) == counts else {
                throw PipelineError.invalidCosts(reason: "\(name) times for \(table.map(\.count)) actions per rank, but the "
                    + "schedule has \(counts); give one time per action of each rank")
            }
            if let bad = table.joined().first(where: { !$0.isFinite || $0 < 0 }) {
                throw PipelineError.invalidCosts(reason: "\(name) time \(bad) must be a finite number ≥ 0")
            }
        }
        guard transfer.isFinite, transfer >= 0 else {
            throw PipelineError.invalidCosts(reason: "transfer time \(transfer) must be a finite number ≥ 0")
        }
    }
}
