import TesseraFormats

/// OpenAI's response bodies for completions and chat completions, whole and as stream chunks.
package struct ResponseShapes {
    package let kind: GenerationRequest.Kind
    package let id: String
    package let created: Int64
    package let model: String

    package init(kind: GenerationRequest.Kind, id: String, created: Int64, model: String) {
        (self.kind, self.id, self.created, self.model) = (kind, id, created, model)
    }

    /// `object` of a whole response and of a stream chunk.
    private var object: String { kind == .chat ? "chat.completion" : "text_completion" }
    private var chunkObject: String { kind == .chat ? "chat.completion.chunk" : "text_completion" }

    /// A whole response; each choice has its text, its log-probabilities (when asked), and its finish reason.
    package func response(_ choices: [(text: String, logprobs: [LogprobEntry]?, finish: FinishReason)], usage: Usage) -> JSONValue {
        let items = choices.enumerated().map { index, choice -> JSONValue in
            let body: JSONObject.Member = kind == .chat
                ? .init(key: "message", value: .object(JSONObject(["role": .string("assistant"), "content": .string(choice.text)])))
                : .init(key: "text", value: .string(choice.text))
            return .object(JSONObject([
                .init(key: "index", value: .integer(Int64(index))), body,
                .init(key: "logprobs", value: logprobs(choice.logprobs, textOffset: 0)),
                .init(key: "finish_reason", value: .string(choice.finish.rawValue)),
            ]))
        }
        return envelope(object, choices: items, usage: usage.json)
    }

    /// One stream chunk for choice `index`: new text (and, for chat, the role on the first chunk), the log-probabilities
    /// of the tokens it covers, and the finish reason on the last.
    package func chunk(index: Int, text: String, first: Bool, logprobs entries: [LogprobEntry]?, textOffset: Int,
               finish: FinishReason?, includeUsage: Bool) -> JSONValue {
        var delta: [JSONObject.Member] = []
        if first { delta.append(.init(key: "role", value: .string("assistant"))) }
        if !text.isEmpty || finish == nil { delta.append(.init(key: "content", value: .string(text))) }
        let body: JSONObject.Member = kind == .chat ? .init(key: "delta", value: .object(JSONObject(delta)))
                                                    : .init(key: "text", value: .string(text))
        let choice = JSONValue.object(JSONObject([
            .init(key: "index", value: .integer(Int64(index))), body,
            .init(key: "logprobs", value: logprobs(entries, textOffset: textOffset)),
            .init(key: "finish_reason", value: finish.map { .string($0.rawValue) } ?? .null),
        ]))
        return envelope(chunkObject, choices: [choice], usage: includeUsage ? .null : nil)
    }

    /// The last chunk of a stream with `stream_options.include_usage`: no choices, the usage.
    package func usageChunk(_ usage: Usage) -> JSONValue {
        envelope(chunkObject, choices: [], usage: usage.json)
    }

    private func envelope(_ object: String, choices: [JSONValue], usage: JSONValue?) -> JSONValue {
        var members: [JSONObject.Member] = [
            .init(key: "id", value: .string(id)), .init(key: "object", value: .string(object)),
            .init(key: "created", value: .integer(created)), .init(key: "model", value: .string(model)),
            .init(key: "choices", value: .array(choices)),
        ]
        if let usage { members.append(.init(key: "usage", value: usage)) }
        return .object(JSONObject(members))
    }

    /// Chat: `{"content": [{token, logprob, bytes, top_logprobs}]}`. Completions: `{tokens, token_logprobs,
    /// top_logprobs, text_offset}` with offsets counted from `textOffset` (an echoed prompt's first token has `null`
    /// for its log-probability and its alternatives).
    private func logprobs(_ entries: [LogprobEntry]?, textOffset: Int) -> JSONValue {
        guard let entries else { return .null }
        let number = { (value: Float?) in value.map { JSONValue.number(Double($0)) } ?? .null }
        let bytes = { (raw: [UInt8]) in JSONValue.array(raw.map { .integer(Int64($0)) }) }
        if kind == .chat {
            return .object(JSONObject(["content": .array(entries.map { entry in
                .object(JSONObject([
                    "token": .string(entry.token), "logprob": number(entry.logprob), "bytes": bytes(entry.bytes),
                    "top_logprobs": .array(entry.top.map { top in
                        .object(JSONObject(["token": .string(top.token), "logprob": number(top.logprob), "bytes": bytes(top.bytes)]))
                    }),
                ]))
            })]))
        }
        var offsets: [JSONValue] = [], offset = textOffset
        for entry in entries {
            offsets.append(.integer(Int64(offset)))
            offset += entry.token.count
        }
        return .object(JSONObject([
            "tokens": .array(entries.map { .string($0.token) }),
            "token_logprobs": .array(entries.map { number($0.logprob) }),
            "top_logprobs": .array(entries.map { entry in
                guard entry.logprob != nil else { return .null }
                // Two alternatives with the same text keep the first (most likely), as a JSON object must.
                var seen = Set<String>()
                return .object(JSONObject(entry.top.filter { seen.insert($0.token).inserted }
                    .map { JSONObject.Member(key: $0.token, value: number($0.logprob)) }))
            }),
            "text_offset": .array(offsets),
        ]))
    }
}

/// Token counts of a response: the prompts once each, every choice's generated tokens.
package struct Usage: Equatable {
    package var promptTokens: Int
    package var completionTokens: Int

    package init(promptTokens: Int, completionTokens: Int) {
        (self.promptTokens, self.completionTokens) = (promptTokens, completionTokens)
    }

    package var json: JSONValue {
        .object(JSONObject([
            "prompt_tokens": .integer(Int64(promptTokens)), "completion_tokens": .integer(Int64(completionTokens)),
            "total_tokens": .integer(Int64(promptTokens + completionTokens)),
        ]))
    }
}

/// Server-sent events as OpenAI streams them: `data: <json>\n\n` per event, `data: [DONE]\n\n` at the end.
package enum ServerSentEvents {
    package static func event(_ value: JSONValue) -> String { "data: \(value.serialized)\n\n" }
    package static let done = "data: [DONE]\n\n"
}
