import Testing
import TesseraServe

/// Request bodies: every field OpenAI defines decoded, every bad value a 400 that names the field.
@Suite struct GenerationRequestTests {
    func completion(_ json: String) throws -> GenerationRequest {
        try GenerationRequest(body: Array(json.utf8), kind: .completion)
    }

    func rejection(_ json: String, kind: GenerationRequest.Kind = .completion) -> APIError? {
        do {
            _ = try GenerationRequest(body: Array(json.utf8), kind: kind)
            return nil
        } catch {
            return error as? APIError
        }
    }

    @Test func aFullCompletionRequestDecodes() throws {
        let r = try completion("""
            {"model":"m","prompt":"hi","max_tokens":5,"temperature":0.5,"top_p":0.9,"top_k":40,"seed":7,"stop":["\\n","END"],
             "n":2,"stream":true,"stream_options":{"include_usage":true},"logprobs":3,"presence_penalty":0.5,
             "frequency_penalty":-0.5,"user":"ignored"}
            """)
        #expect(r.model == "m" && r.prompts == [.text("hi")] && r.maxTokens == 5 && r.temperature == 0.5 && r.topP == 0.9)
        #expect(r.topK == 40 && r.seed == 7 && r.stop == ["\n", "END"] && r.n == 2 && r.stream && r.includeUsage)
        #expect(r.logprobs == 3 && r.presencePenalty == 0.5 && r.frequencyPenalty == -0.5)
        #expect(r.sampling(choice: 1).seed == 8)
    }

    @Test func promptsComeInFourShapes() throws {
        #expect(try completion(#"{"prompt":["a","b"]}"#).prompts == [.text("a"), .text("b")])
        #expect(try completion(#"{"prompt":[1,2,3]}"#).prompts == [.tokens([1, 2, 3])])
        #expect(try completion(#"{"prompt":[[1],[2,3]]}"#).prompts == [.tokens([1]), .tokens([2, 3])])
        #expect(try completion(#"{"prompt":"x","max_completion_tokens":3}"#).maxTokens == 3)
    }

    @Test func chatRequestsTakeMessagesAndLogprobsFlags() throws {
        let r = try GenerationRequest(body: Array("""
            {"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}],
             "logprobs":true,"top_logprobs":2}
            """.utf8), kind: .chat)
        #expect(r.messages.map(\.content) == ["be brief", "hi"])
        #expect(r.logprobs == 2)
    }

    @Test func badValuesAre400sNamingTheField() {
        let cases: [(String, String)] = [
            (#"{"prompt":"x","max_tokens":-1}"#, "max_tokens"), (#"{"prompt":"x","max_tokens":"5"}"#, "max_tokens"),
            (#"{"prompt":"x","max_tokens":99999999999}"#, "max_tokens"), (#"{"prompt":"x","n":17}"#, "n"),
            (#"{"prompt":"x","temperature":3}"#, "temperature"), (#"{"prompt":"x","top_p":0}"#, "top_p"),
            (#"{"prompt":"x","stop":[1]}"#, "stop"), (#"{"prompt":"x","stop":["a","b","c","d","e"]}"#, "stop"),
            (#"{"prompt":[]}"#, "prompt"), (#"{"prompt":[-1]}"#, "prompt"), (#"{"prompt":7}"#, "prompt"), ("{}", "prompt"),
            (#"{"prompt":"x","stream_options":{"include_usage":true}}"#, "stream_options"),
            (#"{"prompt":"x","logprobs":21}"#, "logprobs"), (#"{"prompt":"x","max_tokens":0}"#, "max_tokens"),
            (#"{"prompt":"x","max_tokens":0,"echo":true}"#, "max_tokens"),
            (#"{"prompt":"x","presence_penalty":2.5}"#, "presence_penalty"), (#"{"prompt":"x","seed":1.5}"#, "seed"),
        ]
        for (body, field) in cases {
            let error = rejection(body)
            #expect(error?.status == .badRequest, "\(body)")
            #expect(error?.param == field, "\(body)")
        }
        #expect(rejection(#"{"messages":[]}"#, kind: .chat)?.param == "messages")
        #expect(rejection(#"{"messages":[{"role":"user"}]}"#, kind: .chat)?.param == "messages")
    }

    @Test func malformedBodiesAre400s() {
        for body in ["{", "[1]", "nul", #"{"prompt":"x","prompt":"y"}"#, String(repeating: "[", count: 10_000)] {
            #expect(rejection(body)?.status == .badRequest, "\(body.prefix(20))")
        }
        let invalidUTF8: [UInt8] = Array(#"{"prompt":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8)
        #expect(throws: APIError.self) { try GenerationRequest(body: invalidUTF8, kind: .completion) }
    }

    @Test func theErrorJSONHasOpenAIsShape() {
        let json = APIError.invalid("n", "bad n").json
        #expect(json["error"]?["message"]?.string == "bad n")
        #expect(json["error"]?["type"]?.string == "invalid_request_error")
        #expect(json["error"]?["param"]?.string == "n")
        #expect(APIError(ServeError.queueFull(limit: 3)).status == .tooManyRequests)
        #expect(APIError(ServeError.shuttingDown).status == .serviceUnavailable)
    }

    /// Random and mutated bodies never crash the decoder: each decodes or is a 400.
    @Test func fuzzedBodiesDecodeOrFailCleanly() {
        var random = SystemRandomNumberGenerator()
        let seeds = [#"{"prompt":"hi","max_tokens":5,"stop":["x"],"n":2,"logprobs":1}"#,
                     #"{"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":2}"#]
        for iteration in 0..<2000 {
            var bytes = Array(seeds[iteration % 2].utf8)
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: at)
                default: bytes.insert(UInt8.random(in: 0...255, using: &random), at: at)
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            for kind in [GenerationRequest.Kind.completion, .chat] {
                do {
                    _ = try GenerationRequest(body: bytes, kind: kind)
                } catch {
                    #expect((error as? APIError)?.status == .badRequest)
                }
            }
        }
    }
}
