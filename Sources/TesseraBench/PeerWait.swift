import TesseraTrain

/// How much of a rank's time in collectives was spent waiting for a later peer to arrive, from every rank's
/// ``CommunicationMeter`` call log (ranks of one process: one clock).
///
/// The `i`-th call a rank makes on a group is the same collective as every other member's `i`-th call on that group
/// (every member calls a group's collectives in the same order). A call cannot finish before its last member
/// arrives, so `last arrival − own arrival` of a call is waiting (for a slower or busier peer, or load imbalance);
/// the rest, `return − last arrival`, is the exchange itself (the rendezvous and the copies). The starts of non-blocking
/// collectives count no more waiting than their own duration.
public enum PeerWait {
    /// Seconds rank `rank` waited for peers in its calls that began in `window` (uptime nanoseconds), per group label
    /// (the group name up to its `[`: "ep", "dp", …). `logs[r]` is rank `r`'s call log.
    public static func seconds(of rank: Int, logs: [[CommunicationMeter.Call]], window: Range<UInt64>) -> [String: Double] {
        var arrivals: [String: [[UInt64]]] = [:]
        for log in logs {
            var mine: [String: [UInt64]] = [:]
            for call in log { mine[call.group, default: []].append(call.start) }
            for (group, starts) in mine { arrivals[group, default: []].append(starts) }
        }
        var waits: [String: Double] = [:], index: [String: Int] = [:]
        for call in logs[rank] {
            let i = index[call.group, default: 0]
            index[call.group] = i + 1
            guard window.contains(call.start) else { continue }
            let last = arrivals[call.group, default: []].compactMap { $0.indices.contains(i) ? $0[i] : nil }.max() ?? call.start
            // A non-blocking start returns before its peers arrive: it waited only as long as it took.
            let arrived = min(max(last, call.start), call.end)
            waits[label(call.group), default: 0] += Double(arrived - call.start) / 1e9
        }
        return waits
    }

    /// A group name's kind: `"ep[dp=0]"` → `"ep"`.
    public static func label(_ group: String) -> String { String(group.prefix { $0 != "[" }) }
}
