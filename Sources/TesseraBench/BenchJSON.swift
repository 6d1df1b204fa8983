import Foundation
import TesseraFiles

/// JSON output of the benchmarks whose results are nested dictionaries.
public enum BenchJSON {
    /// `object` as pretty JSON with sorted keys (so files diff and regenerate stably).
    public static func data(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// Writes `object` as pretty JSON with sorted keys to `path`, atomically.
    public static func write(_ object: [String: Any], to path: String) throws {
        try AtomicWrite.write(Array(try data(object)), to: path)
    }
}
