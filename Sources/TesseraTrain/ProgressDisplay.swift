import Foundation

/// Formats training progress: a bar redrawn in place on a terminal, one plain line per step otherwise
/// (logs, pipes, CI). The caller decides which (`isatty` on its output) and writes the strings.
public struct ProgressDisplay: Sendable {
    public enum Style: Sendable, Equatable {
        /// A bar of `width` cells, redrawn with a carriage return; the caller ends the run with ``finish()``.
        case bar(width: Int)
        /// One line per step.
        case plain
    }

    public let style: Style
    public let totalSteps: Int

    public init(style: Style, totalSteps: Int) {
        self.style = style
        self.totalSteps = totalSteps
    }

    /// The text to write after step `metrics.step` (a bar redraw includes its leading `\r` and no newline;
    /// a plain line ends with a newline).
    public func update(_ metrics: StepMetrics) -> String {
        let loss = String(format: "%.4f", metrics.loss)
        let rate = Self.rate(metrics.tokensPerSecond)
        let mfu = metrics.mfu.map { "  MFU \(String(format: "%.1f", 100 * $0))%" } ?? ""
        switch style {
        case .plain:
            let bytes = metrics.communicationBytes.map { bytes in
                "  comm " + ["tp", "pp", "dp"].map { "\($0) \(Self.bytes(bytes[$0] ?? 0))" }.joined(separator: " ")
            } ?? ""
            let wait = metrics.reductionWaitSeconds.map { "  dp wait \(String(format: "%.3f", $0)) s" } ?? ""
            return "step \(metrics.step)/\(totalSteps)  loss \(loss)  lr \(String(format: "%.3e", metrics.learningRate))"
                + "  grad_norm \(String(format: "%.3f", metrics.gradientNorm))  \(rate) tokens/s\(mfu)"
                + "  \(String(format: "%.2f", metrics.stepSeconds)) s\(wait)\(bytes)\n"
        case let .bar(width):
            let done = totalSteps > 0 ? min(width, width * metrics.step / totalSteps) : width
            let bar = String(repeating: "█", count: done) + String(repeating: "░", count: width - done)
            let remaining = metrics.step > 0 ? metrics.elapsedSeconds / Double(metrics.step) * Double(totalSteps - metrics.step) : 0
            // \r returns to the line start; ESC[K clears what a longer previous line left behind.
            return "\r\(bar) \(metrics.step)/\(totalSteps)  loss \(loss)  \(rate) tok/s\(mfu)  eta \(Self.duration(remaining))\u{1B}[K"
        }
    }

    /// What ends the display after the last step (a newline after a bar, nothing after plain lines).
    public func finish() -> String {
        style == .plain ? "" : "\n"
    }

    /// Tokens per second: no decimals from 100 on.
    static func rate(_ value: Double) -> String {
        value >= 100 ? String(Int(value.rounded())) : String(format: "%.1f", value)
    }

    /// `512 B`, `3.4 kB`, `12.0 MB` (decimal units).
    static func bytes(_ count: Int) -> String {
        let value = Double(count)
        if value >= 1e9 { return String(format: "%.2f GB", value / 1e9) }
        if value >= 1e6 { return String(format: "%.1f MB", value / 1e6) }
        if value >= 1e3 { return String(format: "%.1f kB", value / 1e3) }
        return "\(count) B"
    }

    /// `1h02m`, `3m05s` or `42s`.
    static func duration(_ seconds: Double) -> String {
        let s = max(0, Int(seconds.rounded()))
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
