import Foundation

/// A file of prompts, one per line, decoded together (`tessera generate --batch-file`).
public enum PromptFile {
    /// The prompts in `data`: lines end with `\n` (or `\r\n`); a newline at the very end closes the last line.
    /// - Throws: ``TrainingError/invalidPromptLine(path:line:reason:)`` for an empty line (or an empty file) or a
    ///   line that is not UTF-8, naming the line.
    public static func prompts(in data: Data, path: String) throws -> [String] {
        var lines = Array(data).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.count > 1, lines.last?.isEmpty == true { lines.removeLast() }
        return try lines.enumerated().map { index, line in
            let bytes = line.last == UInt8(ascii: "\r") ? line.dropLast() : line
            guard !bytes.isEmpty else {
                throw TrainingError.invalidPromptLine(path: path, line: index + 1, reason: data.isEmpty ? "the file has no prompts" : "the line is empty")
            }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw TrainingError.invalidPromptLine(path: path, line: index + 1, reason: "the line is not UTF-8 text")
            }
            return text
        }
    }
}
