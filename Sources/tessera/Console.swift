import Foundation

/// Standard output written at once: progress bars and streamed text must not wait for a newline or a full buffer.
enum Console {
    static func write(_ text: String) {
        print(text, terminator: "")
        fflush(nil)
    }
}
