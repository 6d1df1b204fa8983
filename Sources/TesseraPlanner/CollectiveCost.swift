/// Alpha-beta costs of the collectives, as NCCL's own tuning model prices its ring algorithm
/// (src/graph/tuning.cc, `ncclTopoTuneModel` and `ncclTopoGetAlgoTime`): a start-up latency per protocol, a
/// latency per ring step (of the intra-node link for steps inside a node, of the network for the steps that cross
/// to the next node), and the bytes each device moves over the group's bus bandwidth. Three protocols are priced
/// and the cheapest taken, as NCCL does: Simple (full bandwidth), LL128 (where the links enable it; 92% of the
/// bandwidth, 70% with one member per node) and LL (a quarter of the bandwidth for all-reduce and across nodes, a
/// third otherwise). A group of one device costs nothing.
enum CollectiveCost {
    /// A ring collective over `group`: `steps` steps of which `interSteps` cross nodes, moving `bytes` per device
    /// over the group's bus bandwidth.
    private static func ring(steps: Int, interSteps: Int, bytes: Double, group: DeviceGroup, allReduce: Bool) -> Double {
        let intra = group.intraNode, inter = group.interNode
        let spans = group.spansNodes
        let intraSteps = Double(steps - interSteps), netSteps = Double(interSteps)
        let wire = spans ? min(intra.bytesPerSecond, Double(group.perNode) * inter.bytesPerSecond) : intra.bytesPerSecond
        let rate = wire * PlannerConstants.linkEfficiency

        let simple = PlannerConstants.collectiveBaseLatency + intraSteps * intra.latencySeconds
            + netSteps * inter.latencySeconds + bytes / rate
        let lowLatencyShare = allReduce || spans ? PlannerConstants.lowLatencyAllReduceBandwidthFraction
            : PlannerConstants.lowLatencyBandwidthFraction
        let lowLatency = PlannerConstants.lowLatencyBaseLatency + intraSteps * intra.smallMessageLatencySeconds
            + netSteps * inter.smallMessageLatencySeconds + bytes / (rate * lowLatencyShare)
        var best = min(simple, lowLatency)
        if let intraMedium = intra.mediumMessageLatencySeconds,
           let interMedium = spans ? inter.mediumMessageLatencySeconds : 0
        {
            let share = group.perNode < 2 && spans ? PlannerConstants.mediumMessageSingleNICBandwidthFraction
                : PlannerConstants.mediumMessageBandwidthFraction
            best = min(best, PlannerConstants.mediumMessageBaseLatency + intraSteps * intraMedium
                + netSteps * interMedium + bytes / (rate * share))
        }
        return best
    }

    /// Ring all-reduce of `bytes` per device: 2(n-1)/n of the bytes cross each link, in 2(n-1) steps, 2(N-1) of
    /// them between the group's N nodes.
    static func allReduce(bytes: Double, group: DeviceGroup) -> Double {
        let n = group.size
        guard n > 1 else { return 0 }
        return ring(steps: 2 * (n - 1), interSteps: 2 * (group.nodes - 1),
                    bytes: 2 * Double(n - 1) / Double(n) * bytes, group: group, allReduce: true)
    }

    /// Ring all-gather (or reduce-scatter) whose full result is `bytes`: (n-1)/n of it crosses each link.
    static func allGather(bytes: Double, group: DeviceGroup) -> Double {
        let n = group.size
        guard n > 1 else { return 0 }
        return ring(steps: n - 1, interSteps: group.nodes - 1, bytes: Double(n - 1) / Double(n) * bytes,
                    group: group, allReduce: false)
    }

    /// All-to-all where each device holds `bytes` and keeps 1/n of them, sending every other member its share at
    /// once: the share for members in other nodes leaves through the device's own NIC, the rest over the
    /// intra-node link, both at the same time.
    static func allToAll(bytes: Double, group: DeviceGroup) -> Double {
        let n = group.size
        guard n > 1 else { return 0 }
        let share = bytes / Double(n)
        let local = Double(group.perNode - 1) * share
        let remote = Double(n - group.perNode) * share
        let efficiency = PlannerConstants.linkEfficiency
        let transfer = max(local / (group.intraNode.bytesPerSecond * efficiency),
                           remote / (group.interNode.bytesPerSecond * efficiency))
        return PlannerConstants.collectiveBaseLatency + Double(n - 1) * group.link.latencySeconds + transfer
    }

    /// One point-to-point message over `link` (Simple or LL, no collective start-up).
    static func pointToPoint(bytes: Double, link: Link) -> Double {
        let rate = link.bytesPerSecond * PlannerConstants.linkEfficiency
        return min(link.latencySeconds + bytes / rate,
                   link.smallMessageLatencySeconds + bytes / (rate * PlannerConstants.lowLatencyBandwidthFraction))
    }
}
