extension PipelineScheduleConfig {
    /// The bubble fraction the literature gives for this schedule with uniform costs and free transfers,
    /// as idle time over `p ·` step time; `nil` when the costs differ between stages, or for ZB-H1 outside
    /// the regime its count assumes (`m ≥ p` and `W ≤ F`, `W ≤ B`: otherwise a W cannot hide in the gap).
    ///
    /// - GPipe and 1F1B: `(p − 1) / (m + p − 1)` (Huang et al. 2019; Narayanan et al. 2021).
    /// - Interleaved 1F1B: the bubble time shrinks by `v` (Narayanan et al. 2021, §2.2), giving
    ///   `(p − 1) / (v·m + p − 1)`.
    /// - ZB-H1: each rank idles `(p − 1)(F + B − W)` next to `m(F + B + W)` of work (Qi et al. 2023, §3.1).
    public func publishedBubbleFraction(costs: PipelineCosts) -> Double? {
        guard costs.isUniform else { return nil }
        let p = Double(stages), m = Double(microBatches), v = Double(virtualStages)
        switch kind {
        case .gpipe, .oneForwardOneBackward:
            return (p - 1) / (m + p - 1)
        case .interleaved:
            return (p - 1) / (v * m + p - 1)
        case .zeroBubbleH1:
            let schedule = PipelineSchedule(self)
            let f = costs.duration(of: .forward, modelChunk: 0, in: schedule)
            let b = costs.duration(of: .backwardInput, modelChunk: 0, in: schedule)
            let w = costs.duration(of: .backwardWeight, modelChunk: 0, in: schedule)
            guard microBatches >= stages, w <= f, w <= b else { return nil }
            let idle = (p - 1) * (f + b - w), work = m * (f + b + w)
            return idle + work > 0 ? idle / (idle + work) : 0
        }
    }
}

extension PipelineSimulation {
    /// Lines for reports and pictures: the costs, and the published bubble fraction when one applies.
    public func notes(config: PipelineScheduleConfig) -> [String] {
        var lines = ["\(costs)"]
        if let formula = config.publishedBubbleFraction(costs: costs) {
            lines.append("published bubble \(percent(formula))" + (costs.transfer > 0 ? " (without transfer time)" : ""))
        }
        return lines
    }
}
