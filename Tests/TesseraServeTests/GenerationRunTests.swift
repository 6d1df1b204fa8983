import Foundation
import Testing
import TesseraFormats
import TesseraServe

/// Requests through the scheduler (on its own thread, over the fake backend) to response text: n, echo, stop strings,
/// usage, and streamed pieces that add up to the whole text.
@Suite struct GenerationRunTests {
    /// A scheduler thread over a fake model that writes lowercase letters (byte tokenizer).
    final class Harness: @unchecked Sendable {
        let scheduler = Scheduler(backend: FakeBackend(vocabularySize: 256, contextLength: 96, preferred: 97..<123),
                                  limits: SchedulerLimits(maxBatch: 3, prefillChunk: 4))
        let model = ServedModel(name: "fake", tokenizer: ByteTokenizer(), template: nil, contextLength: 96, stops: [])

        init() { Thread { [scheduler] in try? scheduler.run(heartbeat: .milliseconds(5)) }.start() }
        deinit { scheduler.shutdown() }

        /// Each choice's pieces, finish reasons, and the usage of `body`.
        func run(_ body: String) async throws -> (pieces: [[String]], reasons: [FinishReason?], usage: Usage) {
            let result = try await runWithLogprobs(body)
            return (result.pieces, result.reasons, result.usage)
        }

        /// ``run(_:)`` and each choice's log-probability entries.
        func runWithLogprobs(_ body: String) async throws
            -> (pieces: [[String]], reasons: [FinishReason?], usage: Usage, logprobs: [[LogprobEntry]]) {
            let request = try GenerationRequest(body: Array(body.utf8), kind: .completion)
            let run = try GenerationRun(request, model: model, scheduler: scheduler, metrics: nil)
            var pieces = [[String]](repeating: [], count: run.choiceCount)
            var reasons = [FinishReason?](repeating: nil, count: run.choiceCount)
            var logprobs = [[LogprobEntry]](repeating: [], count: run.choiceCount)
            let usage = try await run.run { output in
                switch output {
                case let .text(index, text, entries):
                    pieces[index].append(text)
                    logprobs[index] += entries ?? []
                case let .finish(index, reason):
                    #expect(reasons[index] == nil)
                    reasons[index] = reason
                }
            }
            return (pieces, reasons, usage, logprobs)
        }
    }

    @Test func choicesUsageAndEcho() async throws {
        let harness = Harness()
        let result = try await harness.run(#"{"prompt":["ab","cde"],"max_tokens":5,"n":2,"temperature":0,"echo":true}"#)
        #expect(result.reasons == [.length, .length, .length, .length])
        #expect(result.usage == Usage(promptTokens: 5, completionTokens: 20))
        let texts = result.pieces.map { $0.joined() }
        #expect(texts[0] == texts[1] && texts[0].hasPrefix("ab") && texts[0].count == 7)
        #expect(texts[2].hasPrefix("cde") && texts[2].count == 8)
    }

    /// Echo with logprobs: the prompt comes first with its tokens' entries (the first unscored), then the completion
    /// with its own; the completion is the one without them.
    @Test func echoWithLogprobsScoresThePrompt() async throws {
        let harness = Harness()
        let plain = try await harness.run(#"{"prompt":"abcdefghij","max_tokens":3,"temperature":0}"#).pieces[0].joined()
        let result = try await harness.runWithLogprobs(#"{"prompt":"abcdefghij","max_tokens":3,"temperature":0,"echo":true,"logprobs":1,"n":2}"#)
        for choice in 0..<2 {
            #expect(result.pieces[choice].first == "abcdefghij")
            #expect(result.pieces[choice].joined() == "abcdefghij" + plain)
            let entries = result.logprobs[choice]
            #expect(entries.map(\.token).joined() == "abcdefghij" + plain)
            #expect(entries.first?.logprob == nil && entries.dropFirst().allSatisfy { $0.logprob != nil && $0.top.count == 1 })
        }
        #expect(result.usage == Usage(promptTokens: 10, completionTokens: 6))
    }

    /// max_tokens 0 with echo and logprobs scores the prompt alone.
    @Test func noTokensOnlyScoreThePrompt() async throws {
        let result = try await Harness().runWithLogprobs(#"{"prompt":"abcdefghij","max_tokens":0,"echo":true,"logprobs":0}"#)
        #expect(result.pieces[0].joined() == "abcdefghij" && result.reasons == [.length])
        #expect(result.logprobs[0].count == 10 && result.usage == Usage(promptTokens: 10, completionTokens: 0))
    }

    @Test func aStopStringEndsTheChoiceWithoutLeaking() async throws {
        let harness = Harness()
        let whole = try await harness.run(#"{"prompt":"xy","max_tokens":12,"temperature":0}"#).pieces[0].joined()
        let stop = String(whole.dropFirst(4).prefix(3))
        let cut = try await harness.run(#"{"prompt":"xy","max_tokens":12,"temperature":0,"stop":"\#(stop)"}"#)
        let expected = String(whole[..<whole.range(of: stop)!.lowerBound])
        #expect(cut.pieces[0].joined() == expected)
        #expect(cut.reasons == [.stop])
        #expect(cut.usage.completionTokens == expected.count + 3)
        #expect(cut.pieces[0].allSatisfy { !$0.contains(stop) })
    }

    @Test func aPromptOverTheContextIsA400() async throws {
        let harness = Harness()
        let long = String(repeating: "a", count: 96)
        await #expect(throws: APIError.self) { try await harness.run(#"{"prompt":"\#(long)","max_tokens":1}"#) }
        await #expect(throws: APIError.self) { try await harness.run(#"{"prompt":"ab","max_tokens":95}"#) }
        await #expect(throws: APIError.self) { try await harness.run(#"{"prompt":[300]}"#) }
    }
}
