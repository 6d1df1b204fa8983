import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A minimal HTTP/1.1 client for loopback benchmarks: one connection per request (`Connection: close`), the body
/// handed over piece by piece as it arrives (chunked or not), so a stream's events are timed when they land. Blocking,
/// one thread per request in flight; the same client drives every server a benchmark compares.
public enum LoopbackHTTP {
    /// Sends `method path` with a JSON `body` to 127.0.0.1:`port` and calls `onBody` with each decoded piece of the
    /// response body as it arrives; returns the status.
    /// - Throws: ``BenchError/serveFailed(reason:)`` when the connection fails or the response is not HTTP/1.1; what
    ///   `onBody` throws.
    public static func send(port: Int, method: String, path: String, body: [UInt8] = [],
                            onBody: ([UInt8]) throws -> Void) throws -> Int {
        let socket = try connect(port: port)
        defer { close(socket) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if !body.isEmpty || method == "POST" { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        try write(socket, Array((head + "\r\n").utf8) + body)
        var response = ResponseReader()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw BenchError.serveFailed(reason: "reading from port \(port): \(String(cString: strerror(errno)))") }
            let piece = try response.feed(count == 0 ? nil : Array(buffer[0..<count]))
            if !piece.isEmpty { try onBody(piece) }
            if count == 0 || response.complete { break }
        }
        guard let status = response.status else { throw BenchError.serveFailed(reason: "port \(port) closed before a response to \(method) \(path)") }
        return status
    }

    /// The status and whole body of one request.
    public static func fetch(port: Int, method: String = "GET", path: String, body: [UInt8] = []) throws -> (status: Int, body: [UInt8]) {
        var received: [UInt8] = []
        let status = try send(port: port, method: method, path: path, body: body) { received += $0 }
        return (status, received)
    }

    private static func connect(port: Int) throws -> Int32 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw BenchError.serveFailed(reason: "no socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(socket)
            throw BenchError.serveFailed(reason: "connecting to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        return socket
    }

    private static func write(_ socket: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw BenchError.serveFailed(reason: "writing a request: \(String(cString: strerror(errno)))") }
            sent += count
        }
    }

    /// Picks a free loopback port (the system's choice, released at once for a server that takes a port number).
    public static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw BenchError.serveFailed(reason: "no free loopback port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// An HTTP/1.1 response read incrementally: the status line and headers, then the body, undoing chunked transfer
/// encoding; with neither chunks nor a length the body runs to the end of the connection.
package struct ResponseReader {
    package private(set) var status: Int?
    /// The whole body has arrived.
    package private(set) var complete = false
    private var pending: [UInt8] = []
    private var chunked = false
    /// Body bytes still expected: of the current chunk, or of a `Content-Length` body (`nil`: until the connection ends).
    private var remaining: Int?
    private var inHeaders = true

    package init() {}

    /// Takes the next bytes (`nil`: the connection ended) and returns the body bytes they complete.
    /// - Throws: ``BenchError/serveFailed(reason:)`` for a response that is not HTTP/1.1.
    package mutating func feed(_ bytes: [UInt8]?) throws -> [UInt8] {
        guard let bytes else {
            complete = true
            return chunked ? [] : consume(pending.count)
        }
        pending += bytes
        if inHeaders {
            guard let end = find([13, 10, 13, 10], in: pending) else { return [] }
            try readHead(String(decoding: pending[0..<end], as: UTF8.self))
            pending.removeFirst(end + 4)
            inHeaders = false
        }
        guard chunked else {
            let body = consume(min(pending.count, remaining ?? pending.count))
            if let left = remaining {
                remaining = left - body.count
                complete = remaining == 0
            }
            return body
        }
        var body: [UInt8] = []
        while !complete {
            if let left = remaining, left > 0 {
                let piece = consume(min(left, pending.count))
                body += piece
                remaining = left - piece.count
                if remaining! > 0 { break }
            }
            // After a chunk's data: its CRLF, then the next size line.
            guard let lineEnd = find([13, 10], in: pending) else { break }
            let line = String(decoding: pending[0..<lineEnd], as: UTF8.self)
            pending.removeFirst(lineEnd + 2)
            if remaining == 0, line.isEmpty {
                remaining = nil
                continue
            }
            guard let size = Int(line.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw BenchError.serveFailed(reason: "a chunk size line '\(line)' is not hexadecimal")
            }
            if size == 0 { complete = true } else { remaining = size }
        }
        return body
    }

    private mutating func readHead(_ head: String) throws {
        let lines = head.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
            throw BenchError.serveFailed(reason: "not an HTTP/1.1 status line: '\(lines[0])'")
        }
        status = code
        for line in lines.dropFirst() {
            let pair = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard pair.count == 2 else { continue }
            if pair[0] == "transfer-encoding", pair[1].contains("chunked") { chunked = true }
            if pair[0] == "content-length" { remaining = Int(pair[1]) }
        }
        if chunked { remaining = nil }
        if !chunked, remaining == 0 { complete = true }
    }

    private mutating func consume(_ count: Int) -> [UInt8] {
        defer { pending.removeFirst(count) }
        return Array(pending[0..<count])
    }

    private func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        return (0...(bytes.count - needle.count)).first { start in needle.indices.allSatisfy { bytes[start + $0] == needle[$0] } }
    }
}

/// Server-sent events as they arrive: the payload of each `data:` line once its line is complete.
package struct EventLines {
    private var pending: [UInt8] = []

    package init() {}

    package mutating func feed(_ bytes: [UInt8]) -> [String] {
        pending += bytes
        var payloads: [String] = []
        while let end = pending.firstIndex(of: 10) {
            var line = String(decoding: pending[0..<end], as: UTF8.self)
            pending.removeFirst(end + 1)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.hasPrefix("data:") { payloads.append(String(line.dropFirst(5)).trimmingCharacters(in: .whitespaces)) }
        }
        return payloads
    }
}
