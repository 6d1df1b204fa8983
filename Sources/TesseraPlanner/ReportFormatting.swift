import Foundation

/// Number and table formatting shared by the text reports (and the CLI).
public enum PlanText {
    /// "42.5 GB" (decimal gigabytes, as datasheets count them).
    public static func gigabytes(_ bytes: Double) -> String { String(format: "%.1f GB", bytes / 1e9) }

    /// "25.3 s", "410 ms", "12.0 ms", "85 us".
    public static func seconds(_ value: Double) -> String {
        if value >= 10 { return String(format: "%.1f s", value) }
        if value >= 1 { return String(format: "%.2f s", value) }
        if value >= 0.01 { return String(format: "%.0f ms", value * 1e3) }
        if value >= 1e-3 { return String(format: "%.1f ms", value * 1e3) }
        return String(format: "%.0f us", value * 1e6)
    }

    public static func percent(_ fraction: Double) -> String { String(format: "%.1f%%", fraction * 100) }

    /// A plain-text table with right-aligned columns.
    public static func table(header: [String], rows: [[String]]) -> String {
        let columns = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in String(repeating: " ", count: columns[i] - cell.count) + cell }
                .joined(separator: "  ")
        }
        return ([line(header), line(columns.map { String(repeating: "-", count: $0) })] + rows.map(line))
            .joined(separator: "\n")
    }
}
