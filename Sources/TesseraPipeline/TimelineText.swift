/// The terminal picture of a timeline.
extension PipelineTimeline {
    /// One line per rank at most `width` characters wide: each compute span starts with its label
    /// (`F3`, `B3`, `W3`, `F3.1`) padded with spaces to its length, idle time (waits included) is `·`.
    /// Time runs left to right at a fixed number of columns per time unit, chosen so the shortest compute
    /// span fits its label when the line allows it.
    public func text(width: Int = 120) -> String {
        let metrics = self.metrics
        let compute = spans.filter { $0.kind.compute != nil && $0.end > $0.start }
        let prefix = "rank \(ranks.max() ?? 0) │".count
        let columns = max(width - prefix, 10)
        let shortest = compute.map(\.duration).min() ?? 1
        let longestLabel = compute.map(\.label.count).max() ?? 2
        let fitting = Double(longestLabel + 1) / shortest
        let perUnit = metrics.stepTime > 0 ? min(fitting, Double(columns) / metrics.stepTime) : 1
        func column(_ time: Double) -> Int { Int(((time - metrics.start) * perUnit).rounded()) }
        let used = max(column(metrics.start + metrics.stepTime), 1)

        var lines = ["\(title)   (1 column = \(formatNumber(1 / perUnit))\(timeUnit.isEmpty ? " time units" : " \(timeUnit)"))"]
        for rank in ranks {
            var row = Array(repeating: Character("·"), count: used)
            for span in compute where span.rank == rank {
                let from = min(column(span.start), used - 1), to = min(max(column(span.end), from + 1), used)
                let label = Array(span.label)
                for index in from..<to {
                    row[index] = index - from < label.count ? label[index - from] : " "
                }
            }
            let name = "rank \(rank)"
            lines.append(String(repeating: " ", count: max(prefix - 2 - name.count, 0)) + name + " │" + String(row))
        }
        lines.append(figures(metrics))
        return lines.joined(separator: "\n") + "\n"
    }
}
