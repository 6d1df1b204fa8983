/// Alpha-beta costs of the collectives over one link class, as NCCL's tuning model prices them
/// (src/graph/tuning.cc): a fixed start-up latency, a latency per ring step and the bytes each device sends over the
/// link's per-direction bandwidth (times ``PlannerConstants/linkEfficiency``). Two protocols are priced and the
/// cheaper one taken, as NCCL does: Simple (full bandwidth, larger latencies) and LL (half the bandwidth, small
/// latencies) for small messages. A group of one device costs nothing.
enum CollectiveCost {
    /// `steps` ring steps moving `bytes` over each link; `collective` adds the start-up latency of a collective
    /// (a lone point-to-point message has none).
    static func ring(steps: Double, bytes: Double, link: Link, collective: Bool = true) -> Double {
        let rate = link.bytesPerSecond * PlannerConstants.linkEfficiency
        let start = collective ? 1.0 : 0.0
        let simple = start * PlannerConstants.collectiveBaseLatency + steps * link.latencySeconds + bytes / rate
        let lowLatency = start * PlannerConstants.lowLatencyBaseLatency + steps * link.smallMessageLatencySeconds
            + bytes / (rate * PlannerConstants.lowLatencyBandwidthFraction)
        return min(simple, lowLatency)
    }

    /// Ring all-reduce of `bytes` per device: 2(n-1)/n of the bytes cross each link, in 2(n-1) steps.
    static func allReduce(bytes: Double, groupSize n: Int, link: Link) -> Double {
        guard n > 1 else { return 0 }
        let steps = 2 * Double(n - 1)
        return ring(steps: steps, bytes: steps / Double(n) * bytes, link: link)
    }

    /// Ring all-gather (or reduce-scatter) whose full result is `bytes`: (n-1)/n of it crosses each link.
    static func allGather(bytes: Double, groupSize n: Int, link: Link) -> Double {
        guard n > 1 else { return 0 }
        let steps = Double(n - 1)
        return ring(steps: steps, bytes: steps / Double(n) * bytes, link: link)
    }

    /// All-to-all where each device holds `bytes` and keeps 1/n of them: pairwise exchange in n-1 steps.
    static func allToAll(bytes: Double, groupSize n: Int, link: Link) -> Double {
        allGather(bytes: bytes, groupSize: n, link: link)
    }

    /// One point-to-point message.
    static func pointToPoint(bytes: Double, link: Link) -> Double {
        ring(steps: 1, bytes: bytes, link: link, collective: false)
    }
}
