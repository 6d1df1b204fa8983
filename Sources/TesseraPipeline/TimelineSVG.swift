import TesseraFiles

/// The SVG picture of a timeline: one row per rank on a grey lane (so idle time shows as grey), a box per
/// compute span colored by kind (F blue, whole backward green, B teal, W orange; lighter for chunks > 0)
/// labelled with its micro-batch, thin grey bars for waits on transfers, a time axis, a legend and the
/// figures (step time, bubble, peak activations).
extension PipelineTimeline {
    /// - Parameters:
    ///   - width: the picture's width in pixels.
    ///   - notes: extra lines printed under the figures (e.g. the published bubble for comparison).
    public func svg(width: Int = 960, notes: [String] = []) -> String {
        let metrics = self.metrics
        let left = 64.0, right = 16.0, top = 36.0, rowHeight = 24.0, rowGap = 6.0
        let end = max(spans.map(\.end).max() ?? 0, metrics.start + metrics.stepTime)
        let span = max(end - metrics.start, .leastNonzeroMagnitude)
        let scale = (Double(width) - left - right) / span
        func x(_ time: Double) -> Double { left + (time - metrics.start) * scale }
        let rowsBottom = top + Double(ranks.count) * (rowHeight + rowGap)
        let kinds = PipelineSpanKind.allCases.filter { kind in spans.contains { $0.kind == kind } }
        let figures = [figures(metrics)] + notes
        let height = rowsBottom + 28 + 22 + Double(figures.count) * 16 + 8

        var svg = [
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(width)" height="\##(Int(height))" viewBox="0 0 \##(width) \##(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="11">"##,
            ##"<rect width="100%" height="100%" fill="white"/>"##,
            ##"<text x="\##(left)" y="22" font-size="14" font-weight="bold">\##(escaped(title))</text>"##,
        ]
        for (row, rank) in ranks.enumerated() {
            let y = top + Double(row) * (rowHeight + rowGap)
            svg.append(##"<text x="\##(left - 8)" y="\##(format(y + rowHeight / 2 + 4))" text-anchor="end">rank \##(rank)</text>"##)
            svg.append(##"<rect x="\##(format(left))" y="\##(format(y))" width="\##(format(span * scale))" height="\##(rowHeight)" fill="#ececec"/>"##)
            for box in spans where box.rank == rank && box.end > box.start {
                let boxWidth = max(box.duration * scale, 0.5)
                if box.kind == .communication {
                    svg.append(##"<rect x="\##(format(x(box.start)))" y="\##(format(y + rowHeight - 5))" width="\##(format(boxWidth))" height="4" fill="#9c9c9c"><title>\##(escaped(tooltip(box)))</title></rect>"##)
                    continue
                }
                let chunk = box.chunk ?? 0
                svg.append(##"<rect x="\##(format(x(box.start)))" y="\##(format(y))" width="\##(format(boxWidth))" height="\##(rowHeight)" fill="\##(color(box.kind, chunk: chunk))" stroke="white" stroke-width="0.5"><title>\##(escaped(tooltip(box)))</title></rect>"##)
                let label = box.microBatch.map(String.init) ?? box.label
                if boxWidth >= Double(label.count) * 6.5 + 2 {
                    svg.append(##"<text x="\##(format(x(box.start) + boxWidth / 2))" y="\##(format(y + rowHeight / 2 + 4))" text-anchor="middle" fill="\##(chunk == 0 ? "white" : "#1b1b1b")">\##(escaped(label))</text>"##)
                }
            }
        }
        // Time axis with 1-2-5 ticks.
        let tick = niceTick(span / 8)
        svg.append(##"<line x1="\##(format(left))" y1="\##(format(rowsBottom))" x2="\##(format(left + span * scale))" y2="\##(format(rowsBottom))" stroke="#555"/>"##)
        var time = 0.0
        while time <= span + tick * 1e-9 {
            let tx = format(left + time * scale)
            svg.append(##"<line x1="\##(tx)" y1="\##(format(rowsBottom))" x2="\##(tx)" y2="\##(format(rowsBottom + 4))" stroke="#555"/>"##)
            svg.append(##"<text x="\##(tx)" y="\##(format(rowsBottom + 16))" text-anchor="middle" fill="#555">\##(formatNumber(time))</text>"##)
            time += tick
        }
        svg.append(##"<text x="\##(format(left + span * scale))" y="\##(format(rowsBottom + 28))" text-anchor="end" fill="#555">time\##(timeUnit.isEmpty ? "" : " (\(timeUnit))")</text>"##)
        // Legend.
        var legendX = left
        let legendY = rowsBottom + 40
        for kind in kinds + [nil] {
            let (fill, name) = kind.map { (color($0, chunk: 0), legendName($0)) } ?? ("#ececec", "idle")
            svg.append(##"<rect x="\##(format(legendX))" y="\##(format(legendY - 9))" width="12" height="12" fill="\##(fill)"/>"##)
            svg.append(##"<text x="\##(format(legendX + 16))" y="\##(format(legendY + 1))">\##(name)</text>"##)
            legendX += 28 + Double(name.count) * 6.5
        }
        if spans.contains(where: { ($0.chunk ?? 0) > 0 }) {
            svg.append(##"<text x="\##(format(legendX))" y="\##(format(legendY + 1))" fill="#555">lighter: chunks 1, 2, …</text>"##)
        }
        for (index, line) in figures.enumerated() {
            svg.append(##"<text x="\##(left)" y="\##(format(legendY + 22 + Double(index) * 16))">\##(escaped(line))</text>"##)
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    /// Writes ``svg(width:notes:)`` to `path`, atomically.
    /// - Throws: ``FileWriteError``.
    public func writeSVG(to path: String, width: Int = 960, notes: [String] = []) throws {
        try AtomicWrite.write(Array(svg(width: width, notes: notes).utf8), to: path)
    }

    /// One line with the figures: step time, bubble fraction and peak activations per rank.
    public var figures: String { figures(metrics) }

    func figures(_ metrics: PipelineTimelineMetrics) -> String {
        "step time \(formatNumber(metrics.stepTime))\(timeUnit.isEmpty ? "" : " \(timeUnit)") · bubble \(percent(metrics.bubbleFraction))"
            + " · peak activations per rank \(metrics.peakActivations.map(String.init).joined(separator: " "))"
    }

    private func tooltip(_ span: PipelineSpan) -> String {
        "rank \(span.rank) \(span.label): \(formatNumber(span.start))–\(formatNumber(span.end))\(timeUnit.isEmpty ? "" : " \(timeUnit)")"
    }
}

/// A fraction as a percentage with one decimal, e.g. `27.3 %`.
func percent(_ fraction: Double) -> String {
    let tenths = Int((fraction * 1000).rounded())
    return "\(tenths / 10).\(abs(tenths % 10)) %"
}

private func legendName(_ kind: PipelineSpanKind) -> String {
    switch kind {
    case .forward: return "F forward"
    case .backward: return "B whole backward"
    case .backwardInput: return "B input gradient"
    case .backwardWeight: return "W weight gradient"
    case .communication: return "waiting for a transfer"
    case .other: return "other"
    }
}

/// The fill of a span: a base color per kind, mixed towards white for later chunks.
private func color(_ kind: PipelineSpanKind, chunk: Int) -> String {
    let base: (Double, Double, Double)
    switch kind {
    case .forward: base = (0x4e, 0x79, 0xa7)
    case .backward: base = (0x59, 0xa1, 0x4f)
    case .backwardInput: base = (0x2a, 0x9d, 0x8f)
    case .backwardWeight: base = (0xf2, 0x8e, 0x2b)
    case .communication: base = (0x9c, 0x9c, 0x9c)
    case .other: base = (0xba, 0xb0, 0xac)
    }
    let mix = min(0.3 * Double(chunk), 0.6)
    let channels = [base.0, base.1, base.2].map { Int(($0 + (255 - $0) * mix).rounded()) }
    let hex = Array("0123456789abcdef")
    return "#" + String(channels.flatMap { [hex[$0 / 16], hex[$0 % 16]] })
}

/// The 1, 2 or 5 × 10^k step closest above `rough`.
private func niceTick(_ rough: Double) -> Double {
    guard rough > 0, rough.isFinite else { return 1 }
    var power = 1.0
    while power * 10 <= rough { power *= 10 }
    while power > rough { power /= 10 }
    return [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= rough } ?? 10 * power
}

private func format(_ value: Double) -> String { formatNumber(value) }

private func escaped(_ text: String) -> String {
    var result = ""
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        default: result.append(character)
        }
    }
    return result
}
