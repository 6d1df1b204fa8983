import Foundation
import Testing
import TesseraBench

/// The pieces of `tessera bench serve` that need no server: the HTTP response reader (chunked and sized bodies in
/// any split), stream events, percentiles, the ready line's port and the report's comparisons.
@Suite struct ServeBenchTests {
    static func chunk(_ text: String) -> String { String(text.utf8.count, radix: 16) + ";x=1\r\n" + text + "\r\n" }
    static let chunkedResponse = Array(("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
        + chunk("data: {\"a\":1}\n") + chunk("data: [DONE]\n\n\n\n\n") + "0\r\n\r\n").utf8)

    /// The body of `response` fed in pieces of `size` bytes, then the end of the connection.
    static func body(_ response: [UInt8], pieces size: Int) throws -> (status: Int?, body: [UInt8], complete: Bool) {
        var reader = ResponseReader(), body: [UInt8] = []
        for start in stride(from: 0, to: response.count, by: size) {
            body += try reader.feed(Array(response[start..<min(start + size, response.count)]))
        }
        let completeBeforeClose = reader.complete
        body += try reader.feed(nil)
        return (reader.status, body, completeBeforeClose)
    }

    @Test(arguments: [1, 3, 7, 1000])
    func chunkedBodiesAreJoinedWhateverTheSplit(size: Int) throws {
        let result = try Self.body(Self.chunkedResponse, pieces: size)
        #expect(result.status == 200)
        #expect(String(decoding: result.body, as: UTF8.self) == "data: {\"a\":1}\n" + "data: [DONE]\n\n\n\n\n")
        #expect(result.complete)
    }

    @Test(arguments: [1, 5, 1000])
    func sizedAndOpenEndedBodies(size: Int) throws {
        let sized = try Self.body(Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy".utf8), pieces: size)
        #expect(sized.status == 503 && sized.body == Array("busy".utf8) && sized.complete)
        let open = try Self.body(Array("HTTP/1.1 200 OK\r\n\r\nuntil the end".utf8), pieces: size)
        #expect(open.body == Array("until the end".utf8) && !open.complete)
    }

    @Test func aResponseThatIsNotHTTPIsAnError() {
        var reader = ResponseReader()
        #expect(throws: BenchError.self) { try reader.feed(Array("SSH-2.0-OpenSSH\r\n\r\n".utf8)) }
        var chunks = ResponseReader()
        #expect(throws: BenchError.self) { try chunks.feed(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".utf8)) }
    }

    @Test func eventLinesComeWholeAcrossPieces() throws {
        var lines = EventLines()
        #expect(lines.feed(Array("data: {\"choices\":[{\"te".utf8)).isEmpty)
        #expect(lines.feed(Array("xt\":\"hi\"}]}\r\n\r\n: comment\ndata: [DONE]\n\n".utf8)) == ["{\"choices\":[{\"text\":\"hi\"}]}", "[DONE]"])
        let event = try ServeLoad.event("{\"choices\":[{\"text\":\"hi\"}],\"usage\":{\"completion_tokens\":7}}")
        #expect(event.text == "hi" && event.completionTokens == 7)
        #expect(throws: BenchError.self) { try ServeLoad.event("{\"error\":{\"message\":\"bad\"}}") }
        #expect(throws: BenchError.self) { try ServeLoad.event("not json") }
    }

    @Test func nearestRankPercentiles() {
        let values = (1...100).map(Double.init).shuffled()
        #expect(BenchStatistics.percentile(values, 50) == 50)
        #expect(BenchStatistics.percentile(values, 99) == 99)
        #expect(BenchStatistics.percentile([3], 99) == 3)
        #expect(BenchStatistics.percentile([], 50).isNaN)
    }

    @Test func theReadyLineNamesThePort() {
        #expect(ServerProcess.announcedPort(in: "tessera serve: listening…\ntessera serve: ready: http://127.0.0.1:43117 serving bench") == 43117)
        #expect(ServerProcess.announcedPort(in: "tessera serve: loading…") == nil)
    }

    @Test func comparisonsAreRatiosOfTheRightLevels() {
        func level(_ c: Int, rate: Double, seconds: Double, itl: Double) -> ServeBench.Level {
            ServeBench.Level(concurrency: c, generatedTokens: 1024, tokensPerSecond: rate, seconds: seconds, firstTokenP50: 0.1,
                             firstTokenP99: 0.2, interTokenP50: itl / 2, interTokenP99: itl, answersEqualAlone: true)
        }
        var widest = level(16, rate: 400, seconds: 2.5, itl: 0.04)
        (widest.engineSeconds, widest.schedulingSeconds) = (2, 0.05)
        let ours = ServeBench.ServerRun(name: "tessera serve", command: "", levels: [level(1, rate: 100, seconds: 10, itl: 0.01), widest],
                                        answers: ["a", "b"])
        let peer = ServeBench.ServerRun(name: "llama-server", command: "", levels: [level(1, rate: 50, seconds: 20, itl: 0.02),
                                                                                    level(16, rate: 200, seconds: 5, itl: 0.08)], answers: ["a", "c"])
        let report = ServeBenchReport(date: "", machine: "", loadAverage: "", command: "", prompts: 2, maxTokens: 64,
                                      contextPerSequence: 512, servers: [ours, peer], generateTokensPerSecond: 125)
        let lines = report.comparisons
        #expect(lines.contains { $0.hasPrefix("concurrency 16: tokens/s tessera serve / llama-server = 2.00") })
        #expect(lines.contains { $0.hasPrefix("concurrency 16: ITL p99 tessera serve / llama-server = 0.50") })
        #expect(lines.contains { $0.hasPrefix("concurrency 1: tokens/s tessera serve / llama-server = 2.00") })
        #expect(lines.contains { $0.hasPrefix("concurrency 1: tokens/s tessera serve / tessera generate (125.0 tokens/s alone) = 0.80") })
        #expect(lines.contains { $0.hasPrefix("16 concurrent vs one by one, tessera serve: 4.00×") })
        #expect(lines.contains { $0.hasPrefix("answers identical between the servers: 1 of 2") })
        #expect(lines.contains { $0.hasPrefix("concurrency 16, tessera serve: model steps 80.0 % of the wall time, its scheduler around them 2.0 %") })
        #expect(report.table.contains("answers = alone"))
    }

    @Test func stepSecondsComeFromTheStepHistogramsSums() throws {
        let metrics = """
            tessera_step_engine_seconds_bucket{le="0.1"} 3
            tessera_step_engine_seconds_sum 1.25
            tessera_step_engine_seconds_count 3
            tessera_step_scheduling_seconds_sum 0.004
            tessera_inter_token_latency_seconds_sum 9.5
            """
        let seconds = try #require(ServeLoad.stepSeconds(inMetrics: metrics))
        #expect(seconds.engine == 1.25 && seconds.scheduling == 0.004)
        // A server without the scheduling histogram (or any of them, as llama-server) reports none.
        #expect(ServeLoad.stepSeconds(inMetrics: metrics.replacingOccurrences(of: "tessera_step_scheduling", with: "other")) == nil)
    }
}
