import Foundation

/// Runs a command and returns its standard output; throws with its output when it fails.
public enum Subprocess {
    /// A command that exited with a non-zero status; the description carries the end of its output.
    public struct Failure: Error, CustomStringConvertible {
        public let command: [String]
        public let status: Int32
        public let output: String
        public var description: String {
            "\(command.joined(separator: " ")) exited with status \(status):\n\(output.suffix(2000))"
        }
    }

    /// Runs `command` (looked up on PATH) with standard output and error captured together.
    public static func run(_ command: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure(command: command, status: process.terminationStatus, output: output)
        }
        return output
    }

    /// Runs `command` (looked up on PATH) with its standard error passed through, and returns the last line of its
    /// standard output (a peer's JSON summary) with its exit status.
    public static func lastOutputLine(_ command: [String]) throws -> (line: String, status: Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        return (line, process.terminationStatus)
    }

    /// Runs a Python peer and reads the seconds it prints last; `nil` when Python or its packages are missing.
    public static func pythonSeconds(_ script: String, arguments: [String]) -> Double? {
        guard let output = try? run(["python3", "-c", script] + arguments) else { return nil }
        return lastNumber(in: output)
    }

    /// The last line of `output` that is a number.
    static func lastNumber(in output: String) -> Double? {
        output.split(whereSeparator: \.isNewline).reversed().lazy.compactMap { Double($0) }.first
    }
}
