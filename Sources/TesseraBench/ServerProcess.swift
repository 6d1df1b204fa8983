import Foundation

/// A server under benchmark, in its own process: started, awaited until its `/health` answers 200, stopped with
/// SIGTERM (SIGKILL after a grace period), and sent SIGTERM by the kernel when this process dies first (util-linux
/// `setpriv --pdeathsig`, so a benchmark stopped by a signal leaves no server behind). Its output is kept for the error
/// message when it fails.
public final class ServerProcess: @unchecked Sendable {
    private let process = Process()
    private let lock = NSLock()
    private var output = ""
    /// The port it listens on.
    public private(set) var port: Int

    /// Starts `command` (looked up on PATH) from the calling thread, which must outlive the server (the kernel's
    /// parent-death signal follows the thread that started it). With a `port`, the server takes that port from its command line;
    /// without one, it picks its own and prints it in a line `… ready: http://HOST:PORT …` (`tessera serve --port 0`).
    /// Returns once `/health` answers 200.
    /// - Throws: ``BenchError/serveFailed(reason:)`` when the process exits or is not ready within `timeout`.
    public init(_ command: [String], port: Int?, timeout: Duration = .seconds(300)) throws {
        self.port = port ?? 0
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--pdeathsig", "TERM", "--"] + command
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            lock.withLock { output += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw failure("\(command[0]) exited with status \(process.terminationStatus)") }
            if self.port == 0, let announced = Self.announcedPort(in: log) { self.port = announced }
            if self.port != 0, (try? LoopbackHTTP.fetch(port: self.port, path: "/health").status) == 200 { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        stop()
        throw failure("\(command[0]) was not ready within \(timeout)")
    }

    /// Everything the server printed so far.
    public var log: String { lock.withLock { output } }

    /// The port of the first `ready: http://HOST:PORT` in `text`.
    package static func announcedPort(in text: String) -> Int? {
        guard let ready = text.range(of: "ready: http://") else { return nil }
        let address = text[ready.upperBound...].prefix { !$0.isWhitespace }
        return address.split(separator: ":").last.flatMap { Int($0) }
    }

    /// SIGTERM, then SIGKILL when it has not exited after `grace`.
    public func stop(grace: Duration = .seconds(30)) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + grace
        while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    private func failure(_ what: String) -> BenchError {
        .serveFailed(reason: "\(what); its output ends:\n\(log.suffix(2000))")
    }

    deinit { stop(grace: .seconds(5)) }
}
