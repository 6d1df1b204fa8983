import Foundation

/// Standard output written at once: progress bars and streamed text must not wait for a newline or a full buffer.
enum Console {
    static func write(_ text: String) {
        print(text, terminator: "")
        fflush(nil)
    }

    /// Writes `message` and a newline to standard error: progress that must not mix with a command's table.
    @Sendable static func log(_ message: String) {
        fflush(nil)  // what standard output holds goes first, so the two streams keep their order on one terminal
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
