import Foundation

/// A fresh scratch directory holding `text.txt`, a short English text to train on.
struct ScratchText {
    let directory: String
    let text: String

    /// - Parameter prefix: names the directory under the temporary directory (a random suffix keeps it fresh).
    init(prefix: String) throws {
        directory = NSTemporaryDirectory() + "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        text = directory + "/text.txt"
        try Data(String(repeating: "In the beginning God created the heaven and the earth. ", count: 30).utf8)
            .write(to: URL(fileURLWithPath: text))
    }
}
