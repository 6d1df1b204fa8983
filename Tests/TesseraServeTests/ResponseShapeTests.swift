import Testing
import TesseraFormats
import TesseraServe

/// Responses in OpenAI's shapes, and server-sent event framing.
@Suite struct ResponseShapeTests {
    let entry = LogprobEntry(token: "hi", bytes: [104, 105], logprob: -0.5, top: [(token: "hi", bytes: [104, 105], logprob: -0.5),
                                                                                  (token: "yo", bytes: [121, 111], logprob: -1.5)])

    func shapes(_ kind: GenerationRequest.Kind) -> ResponseShapes {
        ResponseShapes(kind: kind, id: "x-1", created: 5, model: "m")
    }

    @Test func aChatResponseCarriesMessageLogprobsAndUsage() {
        let json = shapes(.chat).response([(text: "hi", logprobs: [entry], finish: .stop)], usage: Usage(promptTokens: 3, completionTokens: 1))
        #expect(json["object"]?.string == "chat.completion")
        let choice = json["choices"]?.array?.first
        #expect(choice?["message"]?["content"]?.string == "hi")
        #expect(choice?["finish_reason"]?.string == "stop")
        #expect(choice?["logprobs"]?["content"]?.array?.first?["top_logprobs"]?.array?.count == 2)
        #expect(choice?["logprobs"]?["content"]?.array?.first?["bytes"]?.array?.count == 2)
        #expect(json["usage"]?["total_tokens"]?.integer == 4)
    }

    @Test func aCompletionResponseHasTheLegacyLogprobsShape() {
        let json = shapes(.completion).response([(text: "hihi", logprobs: [entry, entry], finish: .length)],
                                                usage: Usage(promptTokens: 1, completionTokens: 2))
        let logprobs = json["choices"]?.array?.first?["logprobs"]
        #expect(logprobs?["tokens"]?.array?.count == 2)
        #expect(logprobs?["text_offset"]?.array?.map(\.integer) == [0, 2])
        #expect(logprobs?["top_logprobs"]?.array?.first?["yo"]?.double == -1.5)
    }

    @Test func anEchoedPromptsFirstTokenHasNullLogprobs() {
        let first = LogprobEntry(token: "hi", bytes: Array("hi".utf8), logprob: nil, top: [])
        let json = shapes(.completion).response([(text: "hihi", logprobs: [first, entry], finish: .length)],
                                                usage: Usage(promptTokens: 2, completionTokens: 0))
        let logprobs = json["choices"]?.array?.first?["logprobs"]
        #expect(logprobs?["token_logprobs"]?.array?.first == .null)
        #expect(logprobs?["top_logprobs"]?.array?.first == .null)
        #expect(logprobs?["token_logprobs"]?.array?.last?.double == entry.logprob.map(Double.init))
        #expect(logprobs?["text_offset"]?.array?.map(\.integer) == [0, 2])
    }

    @Test func streamChunksAndTheUsageChunk() {
        let chunk = shapes(.chat).chunk(index: 1, text: "a", first: true, logprobs: nil, textOffset: 0, finish: nil, includeUsage: true)
        #expect(chunk["object"]?.string == "chat.completion.chunk")
        #expect(chunk["choices"]?.array?.first?["delta"]?["role"]?.string == "assistant")
        #expect(chunk["choices"]?.array?.first?["finish_reason"]?.isNull == true)
        #expect(chunk["usage"]?.isNull == true)
        let last = shapes(.chat).usageChunk(Usage(promptTokens: 2, completionTokens: 3))
        #expect(last["choices"]?.array?.isEmpty == true)
        #expect(last["usage"]?["completion_tokens"]?.integer == 3)
    }

    @Test func serverSentEventsAreDataLinesWithABlankLine() throws {
        let event = ServerSentEvents.event(.object(JSONObject(["a": .string("x\ny")])))
        #expect(event == "data: {\"a\":\"x\\ny\"}\n\n")
        #expect(ServerSentEvents.done == "data: [DONE]\n\n")
        // The payload is one line, so a newline in the text cannot end the event early.
        #expect(event.dropLast(2).contains("\n") == false)
    }
}
