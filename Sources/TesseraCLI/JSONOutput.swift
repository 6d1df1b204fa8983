import Foundation
import TesseraFiles

/// `value` as every command prints and writes JSON: pretty, keys sorted (so files diff and regenerate stably).
/// - Parameter snakeCaseKeys: turn Swift's camelCase property names into snake_case keys.
func prettyJSON(_ value: some Encodable, snakeCaseKeys: Bool = false) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    if snakeCaseKeys { encoder.keyEncodingStrategy = .convertToSnakeCase }
    return try encoder.encode(value)
}

/// Prints `value` as pretty JSON with sorted keys on standard output.
func printJSON(_ value: some Encodable) throws {
    print(String(decoding: try prettyJSON(value), as: UTF8.self))
}

/// Writes `value` as pretty JSON with sorted keys and a final newline to `path`, atomically.
func writeJSON(_ value: some Encodable, to path: String, snakeCaseKeys: Bool = false) throws {
    try AtomicWrite.write(Array(try prettyJSON(value, snakeCaseKeys: snakeCaseKeys)) + Array("\n".utf8), to: path)
}
