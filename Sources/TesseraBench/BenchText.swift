import Foundation

/// Number and table formatting shared by the benchmark reports.
public enum BenchText {
    /// Right-aligned columns separated by two spaces; every row has the header's column count.
    public static func aligned(_ rows: [[String]]) -> [String] {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { String(repeating: " ", count: widths[$0.offset] - $0.element.count) + $0.element }
                .joined(separator: "  ")
        }
    }

    /// `value` with `decimals` decimals.
    public static func fixed(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }

    /// `value` with `decimals` decimals, "–" for nil.
    public static func number(_ value: Double?, _ decimals: Int) -> String {
        value.map { fixed($0, decimals) } ?? "–"
    }

    /// A rate with two decimals, "–" for nil.
    public static func rate(_ value: Double?) -> String { number(value, 2) }

    /// A fraction as a whole percentage ("87%"), "–" for nil.
    public static func percent(_ value: Double?) -> String { value.map { String(format: "%.0f%%", $0 * 100) } ?? "–" }

    /// A byte count in the largest binary unit that divides it ("64 MiB", "4 KiB", "100 B").
    public static func size(_ bytes: Int) -> String {
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift) \(unit)"
        }
        return "\(bytes) B"
    }

    /// `value` right-aligned in `width` columns with `digits` decimals ("n/a" for nil or not finite).
    public static func cell(_ value: Double?, _ width: Int, _ digits: Int) -> String {
        var text = "n/a"
        if let value, value.isFinite {
            var scale = 1
            for _ in 0..<digits { scale *= 10 }
            // Digits of the magnitude, the sign in front (a step faster than its baseline is a negative share).
            let scaled = Int((abs(value) * Double(scale)).rounded())
            let fraction = String(scaled % scale)
            text = (value < 0 && scaled > 0 ? "-" : "") + String(scaled / scale)
                + (digits == 0 ? "" : "." + String(repeating: "0", count: digits - fraction.count) + fraction)
        }
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
