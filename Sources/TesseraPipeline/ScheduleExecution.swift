/// Runs a schedule under the executor's semantics, without a model: each rank performs its actions in
/// order, each after its dispatch time and for its busy time (``PipelineActionTimes``); a send is posted
/// when it starts and never waits (buffered); a receive waits until its matching send has been posted,
/// and its data is ready `times.transfer` after the send started.
///
/// The deadlock check and the simulator are both this one run: the checker with unit durations, the
/// simulator with the real costs or measured times. Time is dataflow: each action starts when its rank is
/// free and, for a receive, ends when the data is ready, so the order in which ranks are advanced does not
/// matter.
struct ScheduleExecution {
    /// `times[rank][index]`: when the action at `index` started and ended.
    var times: [[(start: Double, end: Double)]]
    /// Ranks that could not finish, with the receive each is stuck on; empty when the run completed.
    var blocked: [(rank: Int, transfer: PipelineTransfer)]

    /// - Precondition: `times` has one busy and one dispatch time per action of `schedule`.
    init(_ schedule: PipelineSchedule, times actionTimes: PipelineActionTimes) {
        let ranks = schedule.actions.count
        times = schedule.actions.map { Array(repeating: (0, 0), count: $0.count) }
        var next = Array(repeating: 0, count: ranks)
        var clock = Array(repeating: 0.0, count: ranks)
        var posted: [PipelineTransfer: Double] = [:]
        var waiting: [PipelineTransfer: [Int]] = [:]
        var runnable = Array((0..<ranks).reversed())
        while let rank = runnable.popLast() {
            let actions = schedule.actions[rank]
            advance: while next[rank] < actions.count {
                let index = next[rank]
                let start = clock[rank] + actionTimes.dispatch[rank][index]
                let busyUntil = start + actionTimes.busy[rank][index]
                switch actions[index] {
                case let .send(transfer):
                    if posted[transfer] == nil { posted[transfer] = start }
                    runnable += waiting.removeValue(forKey: transfer) ?? []
                    clock[rank] = busyUntil
                case let .receive(transfer):
                    guard let sent = posted[transfer] else {
                        waiting[transfer, default: []].append(rank)
                        break advance
                    }
                    clock[rank] = max(busyUntil, sent + actionTimes.transfer)
                default:
                    clock[rank] = busyUntil
                }
                times[rank][index] = (start, clock[rank])
                next[rank] += 1
            }
        }
        blocked = (0..<ranks).compactMap { rank in
            guard next[rank] < schedule.actions[rank].count,
                  case let .receive(transfer) = schedule.actions[rank][next[rank]] else { return nil }
            return (rank, transfer)
        }
    }
}
