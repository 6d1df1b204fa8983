/// The cost of moving MoE tokens to their experts and back over the ep group (``ExpertDispatch``).
extension TrainingCostModel {
    /// One expert all-to-all of a micro-batch of `tokens` tokens on one device, as the mean of its dispatch and its
    /// combine (a layer runs one of each forward and one of each backward; each tp rank routes its 1/tp of the tokens
    /// under sequence parallelism). With ``ExpertDispatch/allToAll`` both move one 16-bit copy per routed expert;
    /// with ``ExpertDispatch/nodeForwarded`` one copy per routed node crosses InfiniBand, in FP8 for the dispatch when
    /// the products run in FP8 (DeepSeek-V3 §3.3.3) and in BF16 for the combine.
    func expertAllToAll(_ layout: TrainingLayout, tokens: Double) -> Double {
        guard layout.ep > 1, let moe = job.model.moe else { return 0 }
        let group = job.accelerator.group(size: layout.ep, stride: layout.expertParallelStride)
        let routed = tokens / Double(layout.tp)
        let h = Double(job.model.hiddenSize)
        let e = PlannerConstants.activationBytes
        switch layout.expertDispatch {
        case .allToAll:
            return CollectiveCost.allToAll(bytes: e * routed * Double(moe.expertsPerToken) * h, group: group)
        case .nodeForwarded:
            let nodes = min(moe.expertsPerToken, group.nodes, moe.nodesPerToken(nodes: group.nodes))
            let dispatchBytes = job.computeFormat == .fp8 ? 1.0 : e
            func cost(_ bytes: Double) -> Double {
                CollectiveCost.nodeForwardedAllToAll(
                    tokens: routed, tokenBytes: bytes * h, expertsPerToken: moe.expertsPerToken, nodesPerToken: nodes,
                    group: group)
            }
            return (cost(dispatchBytes) + cost(e)) / 2
        }
    }

    /// How much longer computation runs while the overlapped expert all-to-alls hold
    /// ``PlannerConstants/communicationStreamingMultiprocessors`` of the GPU's SMs
    /// (``CommunicationOverlap/expertParallel``): SMs / (SMs − 20), 1 without that overlap, without ep or on a device
    /// without SMs.
    func expertOverlapSlowdown(_ layout: TrainingLayout) -> Double {
        let reserved = PlannerConstants.communicationStreamingMultiprocessors
        guard layout.overlap.expertParallel, layout.ep > 1, job.model.moe != nil,
              let sms = job.accelerator.streamingMultiprocessors, sms > reserved else { return 1 }
        return Double(sms) / Double(sms - reserved)
    }
}

extension MixtureOfExperts {
    /// The most nodes one token's experts span when the ep group spans `nodes` nodes: with group-limited routing
    /// (``routingGroupsPerToken`` of ``routingGroups`` groups, the groups spread evenly over the nodes) that many
    /// groups' nodes; otherwise every routed expert may sit on its own node.
    func nodesPerToken(nodes: Int) -> Int {
        guard let groups = routingGroups, let perToken = routingGroupsPerToken, groups > 0 else { return expertsPerToken }
        return perToken * max(1, (nodes + groups - 1) / groups)
    }
}

extension CollectiveCost {
    /// DeepSeek-V3's dispatch (or combine) of `tokens` tokens of `tokenBytes` each from one device (DeepSeek-AI 2024,
    /// §3.2.2): each token crosses InfiniBand once to each of the `nodesPerToken` nodes it is routed to that is not
    /// its own (with the experts spread evenly, (N−1)/N of them), and every routed copy but those for the receiving
    /// GPU itself crosses NVLink inside the target node. The two links run at once; the slower sets the time.
    static func nodeForwardedAllToAll(
        tokens: Double, tokenBytes: Double, expertsPerToken: Int, nodesPerToken: Int, group: DeviceGroup
    ) -> Double {
        guard group.size > 1 else { return 0 }
        let n = Double(group.nodes), perNode = Double(group.perNode)
        let remote = tokens * tokenBytes * Double(nodesPerToken) * (n - 1) / n
        let forwarded = tokens * tokenBytes * Double(expertsPerToken) * (perNode - 1) / perNode
        let efficiency = PlannerConstants.linkEfficiency
        let transfer = max(remote / (group.interNode.bytesPerSecond * efficiency),
                           forwarded / (group.intraNode.bytesPerSecond * efficiency))
        return PlannerConstants.collectiveBaseLatency + Double(group.size - 1) * group.link.latencySeconds + transfer
    }
}
